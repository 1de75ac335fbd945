//! The docs as users meet them: they paste `sh` blocks into macOS's zsh
//! (which runs `#` as a command: no `interactivecomments`) or bash. Every
//! fenced block of README.md and docs/*.md is tagged (`sh` for what users
//! paste, `text`/`json`/… for output and files); an `sh` block has no
//! comments, no `<NAME>` or `[--opt]` placeholders, nothing zsh would glob
//! by surprise (`?`, `*`, `[` unquoted), and both zsh and bash parse it.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

const TAGS: [&str; 9] = ["sh", "text", "json", "conf", "ini", "xml", "toml", "rust", "jsonl"];

struct Block {
    file: PathBuf,
    line: usize,
    tag: String,
    text: String,
}

fn docs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md")];
    let mut chapters: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    files.extend(chapters);
    files
}

fn blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match (&mut open, trimmed.strip_prefix("```")) {
            (None, Some(tag)) => {
                open = Some(Block {
                    file: file.to_path_buf(),
                    line: number + 1,
                    tag: tag.trim().into(),
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => blocks.push(open.take().unwrap()),
            (Some(block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{}: a code block is never closed", file.display());
    blocks
}

/// What is wrong with an `sh` block, by the rules above.
fn faults(text: &str) -> Vec<String> {
    let mut faults = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let (mut single, mut double, mut previous) = (false, false, ' ');
        let chars: Vec<char> = line.chars().collect();
        for (at, &c) in chars.iter().enumerate() {
            let quoted = single || double;
            match c {
                '\'' if !double => single = !single,
                '"' if !single && previous != '\\' => double = !double,
                '#' if !quoted && (at == 0 || chars[at - 1].is_whitespace()) => {
                    faults.push(format!("line {}: a comment (zsh runs `#` as a command)", number + 1))
                }
                '?' | '*' | '[' if !quoted && previous != '\\' => {
                    faults.push(format!("line {}: an unquoted `{c}` (zsh globs it)", number + 1))
                }
                '<' if !quoted && chars.get(at + 1).is_some_and(|n| n.is_ascii_alphabetic()) => {
                    faults.push(format!("line {}: a `<NAME>` placeholder", number + 1))
                }
                _ => {}
            }
            previous = c;
        }
    }
    faults
}

fn parses(shell: &str, text: &str) -> Result<(), String> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    let out = Command::new(shell)
        .arg("-n")
        .arg(file.path())
        .output()
        .unwrap_or_else(|e| panic!("{shell} is needed by this test (.ci/run installs it): {e}"));
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn every_block_is_tagged_and_every_sh_block_pastes_into_zsh_and_bash() {
    let mut problems = Vec::new();
    let mut sh_blocks = 0;
    for file in docs() {
        for block in blocks(&file) {
            let at = format!("{}:{}", block.file.file_name().unwrap().to_string_lossy(), block.line);
            if !TAGS.contains(&block.tag.as_str()) {
                problems.push(format!("{at}: a block tagged {:?} (tag it: {})", block.tag, TAGS.join(", ")));
                continue;
            }
            if block.tag != "sh" {
                continue;
            }
            sh_blocks += 1;
            problems.extend(faults(&block.text).into_iter().map(|fault| format!("{at}: {fault}")));
            for shell in ["zsh", "bash"] {
                if let Err(said) = parses(shell, &block.text) {
                    problems.push(format!("{at}: {shell} -n: {said}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(sh_blocks >= 10, "the docs have {sh_blocks} sh blocks: is the extraction broken?");
}

#[test]
fn the_rules_catch_what_breaks_a_paste() {
    assert!(faults("coordinator enqueue corpus/\n").is_empty());
    assert!(faults("echo 'a # b' \"[x]?\"\n").is_empty(), "quoted is fine");
    assert_eq!(faults("install.sh --x   # a comment\n").len(), 1);
    assert_eq!(faults("# on its own line\n").len(), 1);
    assert_eq!(faults("worker run --nats <URL>\n").len(), 1);
    assert_eq!(faults("coordinator dashboard [--listen ADDR]\n").len(), 1);
    assert_eq!(faults("ls out/*.json\n").len(), 1);
    assert!(faults("cat file 2>/dev/null\n").is_empty(), "a redirection is not a placeholder");
}
