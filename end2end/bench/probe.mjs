// A script for `addInitScript`: notes when the first log row is parsed into
// the page (`__firstRowParsed`) and when the frame that shows it has been
// painted (`__firstRowPainted`: the first task after that frame's
// requestAnimationFrame), in ms since navigation start.
export const FIRST_ROW_PROBE = `(() => {
  const seen = () => {
    if (!document.querySelector('.log-row')) return false;
    window.__firstRowParsed ??= performance.now();
    requestAnimationFrame(() => setTimeout(() => { window.__firstRowPainted ??= performance.now(); }, 0));
    return true;
  };
  new MutationObserver((_, observer) => { if (seen()) observer.disconnect(); })
    .observe(document, { childList: true, subtree: true });
})();`;

/** Waits for the probe and returns when the first row was painted. */
export async function firstRowPainted(page) {
  return page.waitForFunction(() => window.__firstRowPainted, null, { timeout: 20_000 }).then((handle) => handle.jsonValue());
}
