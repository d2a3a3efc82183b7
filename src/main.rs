use clap::Parser;

#[tokio::main]
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
