//! The browser half of the console: hydrates the server-rendered HTML into
//! the same Leptos app. Everything else lives in `vigie-app`.

// Leptos views are deeply nested types; the hydrate code of the logs page
// needs more than the default depth to lay them out.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // The bundle's memory, for the benchmarks of end2end/bench to read
    // (`globalThis.vigieMemory.buffer.byteLength`).
    let _ = js_sys::Reflect::set(&js_sys::global(), &"vigieMemory".into(), &wasm_bindgen::memory());
    // Lazy: the page's own chunk of WebAssembly is fetched (or was preloaded)
    // before its part of the HTML is hydrated.
    leptos::mount::hydrate_lazy(vigie_app::App);
}
