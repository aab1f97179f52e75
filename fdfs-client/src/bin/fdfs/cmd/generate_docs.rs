//! `fdfs generate-docs DIR` (hidden): man pages and shell completions for the Debian package.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::Cli;

#[derive(Args, Debug)]
pub struct GenerateDocsArgs {
    /// Output directory.
    pub dir: PathBuf,
}

/// Man pages (one for `fdfs`, one per visible command as `fdfs-<command>`) and bash, zsh and fish
/// completions, from the clap definitions.
pub fn run(dir: &Path) -> std::io::Result<()> {
    use clap::CommandFactory;
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let mut cmd = Cli::command();
    cmd.build();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(man.join("fdfs.1"), page)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("fdfs-{}", sub.get_name());
        let mut page = Vec::new();
        clap_mangen::Man::new(
            sub.clone()
                .name(name.clone())
                .bin_name(name.replacen('-', " ", 1)),
        )
        .render(&mut page)?;
        std::fs::write(man.join(format!("{name}.1")), page)?;
    }
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd, "fdfs", &completions)?;
    }
    Ok(())
}
