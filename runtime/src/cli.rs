//! Checks both binaries' command lines share.

/// Flags of `command`'s subcommands that have no help text (hidden test hooks
/// aside): `subcommand flag` each. Both binaries' tests call it.
pub fn flags_without_help(command: &clap::Command) -> Vec<String> {
    command
        .get_subcommands()
        .flat_map(|sub| {
            sub.get_arguments()
                .filter(|arg| !arg.is_hide_set() && arg.get_help().is_none())
                .map(move |arg| format!("{} {}", sub.get_name(), arg.get_id()))
        })
        .collect()
}
