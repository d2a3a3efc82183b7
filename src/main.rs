use clap::Parser;

// One thread is plenty for I/O-bound work and keeps one malloc arena (lower peak RSS);
// CPU-heavy evaluation runs on the blocking pool where it matters (TUI).
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = raydar::cli::Cli::parse();
    let code = match raydar::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("raydar: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
