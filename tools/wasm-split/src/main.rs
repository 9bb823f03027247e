//! Splits the console's WebAssembly where its pages are marked lazy
//! (`#[lazy_route]`), as `cargo leptos build --split` does, for
//! scripts/build-site:
//!
//!     vigie-wasm-split INPUT.wasm PKG_DIR [PAGES]
//!
//! writes `PKG_DIR/vigie_split.wasm` (the main module, for wasm-bindgen), one
//! `.wasm` per page and per chunk the pages share, the loader
//! `__wasm_split.______________________.js` (the name Leptos's hydration
//! script links, unhashed), and `__wasm_split_manifest.json`, from which the
//! server adds `<link rel="preload">` for the chunks a page needs.

use std::path::{Path, PathBuf};

/// Code that at least this many pages (or lazy parts) need goes to the
/// main module rather than to a chunk of its own, so a page comes in fewer,
/// larger files (docs/PERFORMANCE.md has the measures that chose it).
const MAIN_IF_NEEDED_BY: usize = 7;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let needed_by = match args.get(2).map(|text| text.parse::<usize>()) {
        None => Ok(MAIN_IF_NEEDED_BY),
        Some(parsed) => parsed,
    };
    let (input, pkg, needed_by) = match (args.as_slice(), needed_by) {
        ([input, pkg] | [input, pkg, _], Ok(needed_by)) => (input, pkg, needed_by),
        _ => {
            eprintln!(
                "usage: vigie-wasm-split INPUT.wasm PKG_DIR [PAGES: code needed by that many goes to the main module]"
            );
            std::process::exit(2);
        }
    };
    wasm_split_cli_support::set_main_if_needed_by(needed_by);
    if let Err(error) = split(Path::new(input), Path::new(pkg)) {
        eprintln!("vigie-wasm-split: {error:#}");
        std::process::exit(1);
    }
}

fn split(input: &Path, pkg: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let wasm = std::fs::read(input).map_err(|error| format!("{}: {error}", input.display()))?;
    let main_out: PathBuf = pkg.join("vigie_split.wasm");
    let mut options = wasm_split_cli_support::Options::new(&wasm);
    options.output_dir = pkg;
    options.main_out_path = &main_out;
    options.main_module = "/pkg/vigie.js";
    options.link_name = "./__wasm_split.______________________.js";
    let split = wasm_split_cli_support::transform(options).map_err(|error| format!("{error:#}"))?;
    let manifest = serde_json::to_string_pretty(&split.prefetch_map)?;
    std::fs::write(pkg.join("__wasm_split_manifest.json"), manifest)?;
    println!("split into the main module and {} lazy ones", split.split_modules.len());
    Ok(())
}
