"""The demo's look: a restrained Gradio theme and a little CSS."""

import gradio as gr

THEME = gr.themes.Soft(
    primary_hue=gr.themes.colors.blue,
    secondary_hue=gr.themes.colors.sky,
    neutral_hue=gr.themes.colors.slate,
    font=[gr.themes.GoogleFont("IBM Plex Sans", weights=(400, 600)), "system-ui", "sans-serif"],
    font_mono=[gr.themes.GoogleFont("IBM Plex Mono"), "ui-monospace", "monospace"],
)

CSS = """
.gradio-container { max-width: 1180px !important; margin: 0 auto; }
#hero { padding: 18px 22px; border-radius: 14px; color: #fff;
        background: linear-gradient(120deg, #0f62fe 0%, #0043ce 55%, #001d6c 100%); }
#hero h1 { margin: 0 0 4px 0; font-size: 1.7rem; font-weight: 600; color: #fff; }
#hero p { margin: 0; opacity: .9; color: #fff; }
#status { font-size: .95rem; }
.transcript { overflow-wrap: anywhere; line-height: 1.7; font-size: 1.02rem; padding: 10px 12px; min-height: 90px;
              border: 1px solid var(--border-color-primary); border-radius: 10px;
              background: var(--background-fill-secondary); }
mark.kw { background: #ffd8a8; color: #1b1b1b; padding: 0 3px; border-radius: 4px; font-weight: 600; }
del.diff { background: #ffd7d9; color: #750e13; text-decoration: line-through; padding: 0 2px; border-radius: 3px; }
.gwb-words .spk { display: inline-block; margin: 6px 4px 0 0; font-size: 0.85em; }
.spk0 { color: #8a3ffc; } .spk1 { color: #0f62fe; } .spk2 { color: #198038; }
.spk3 { color: #b28600; } .spk4 { color: #da1e28; } .spk5 { color: #005d5d; }
ins.diff { background: #a7f0ba; color: #044317; text-decoration: none; padding: 0 2px; border-radius: 3px; }
.worst { margin: 8px 0 14px; }
.worst .pair { display: grid; grid-template-columns: 90px 1fr; gap: 4px 10px; margin-top: 4px; }
.muted { color: var(--body-text-color-subdued); }
.gwb-words { line-height: 1.9; padding: 6px 2px; }
.gwb-words .w { padding: 1px 2px; border-radius: 4px; cursor: pointer; }
.gwb-words .w:hover { background: var(--background-fill-secondary); }
.gwb-words .w.now { background: #ffd8a8; color: #1b1b1b; }
.wb-wrap { flex-wrap: wrap; }
.tab-wrapper { height: auto !important; }
.tab-container { flex-wrap: wrap !important; height: auto !important; }
.side-by-side { flex-wrap: nowrap !important; }
/* headers of the Dataset and Evaluate tables wrap between words, never inside one ("utteran/ces") */
#dataset-table th, #eval-table th { font-size: .82rem; }
#dataset-table th .header.text, #eval-table th .header.text { word-break: normal !important;
                                                             overflow-wrap: normal !important; }
/* Phones (checked at 375 px by tests/test_ui_layout_browser.py): columns stack, side-by-side panes stack,
   wide tables scroll inside their box, the page margins shrink; nothing scrolls the page sideways. */
@media (max-width: 640px) {
  .side-by-side { flex-direction: column; }
  .side-by-side > div { width: 100%; }
  .row { flex-wrap: wrap !important; }
  .row > .column { min-width: 0 !important; flex: 1 1 100% !important; }
  .block { min-width: 0 !important; max-width: 100% !important; }
  .table-wrap, .table-container, .table { max-width: calc(100vw - 40px) !important; overflow-x: auto !important; }
  /* dropdowns side by side wrap into rows rather than shrink until their choice is cut ("Detect automa") */
  .form { flex-wrap: wrap !important; }
  .form > .block:has([role=combobox]) { min-width: 180px !important; flex: 1 1 180px !important; }
  .row > .form:has([role=combobox]) { flex: 1 1 100% !important; }  /* a dropdown beside a button: on its own line */
  /* segment times keep "00:00.0" on one line (their 12 % of a phone is 40 px); the text takes the rest
     (th/td: Gradio's header and sizing rows; gridcells: the rows shown) */
  .gwb-segments :is(th:nth-child(-n+2), td:nth-child(-n+2), [role=gridcell][data-col="0"],
                    [role=gridcell][data-col="1"]) {
    width: 78px !important; min-width: 78px !important; max-width: 78px !important; flex: 0 0 78px !important; }
  .gwb-segments :is(th:nth-child(3), td:nth-child(3), [role=gridcell][data-col="2"]) {
    width: calc(100vw - 200px) !important; min-width: calc(100vw - 200px) !important;
    max-width: calc(100vw - 200px) !important; flex: 0 0 calc(100vw - 200px) !important; }
}
"""


# Playing from a word or a segment (Transcribe and Translate tabs): Gradio's audio player keeps its <audio> element
# out of the page, so the element a player starts is remembered for that player (a click on its play button,
# then play()). A click on a word (word timestamps) or on a row of the segments table seeks the player of the same
# tab there and plays — starting it first if it never played. Each frame, the word being played is marked.
HEAD = """<style>
/* page margins on phones: in <head> as is (Gradio rewrites the selectors of its css parameter) */
@media (max-width: 640px) {
  .gradio-container .main.fillable, .gradio-container .app { padding-left: 10px !important;
                                                             padding-right: 10px !important; }
}
.gwb-segments .virtual-body [role=row] { cursor: pointer; }
.gwb-segments .virtual-body [role=row]:hover [role=gridcell] { background: var(--background-fill-secondary); }
</style>
<script>
(() => {
  const PLAYER = '[data-testid="waveform-Audio"]';
  const players = new WeakMap();  // a player's box -> the media element it plays
  let starting = null, media = null, last = -1;
  document.addEventListener('click', (e) => {
    const button = e.target.closest && e.target.closest(PLAYER + ' .play-pause-button');
    if (button) starting = button.closest(PLAYER);
  }, true);
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function (...args) {
    media = this;
    if (starting) { players.set(starting, this); starting = null; }
    return play.apply(this, args);
  };
  function seek(from, t) {
    const tab = from.closest('[role=tabpanel]') || document;
    const button = tab.querySelector(PLAYER + ' .play-pause-button');  // the tab's first player
    if (!button) return;
    const box = button.closest(PLAYER);  // (Gradio nests two boxes of that test id: the inner one)
    const known = players.get(box);
    if (known) { known.currentTime = t; if (known.paused) known.play(); return; }
    button.click();  // the player starts: its media element becomes known, then it jumps to t
    let tries = 0;
    const jump = () => {
      const m = players.get(box);
      if (m) m.currentTime = t; else if (tries++ < 20) setTimeout(jump, 50);
    };
    jump();
  }
  const seconds = (text) => text.trim().split(':').reduce((acc, part) => acc * 60 + parseFloat(part), 0);
  window.gwbMedia = () => media;  // for the browser tests
  function tick() {
    if (media && media.currentTime !== last) {
      last = media.currentTime;
      for (const el of document.querySelectorAll('.gwb-words .w')) {
        el.classList.toggle('now', last >= +el.dataset.s && last < +el.dataset.e);
      }
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
  // a message belongs to the tab it came from: changing tabs closes the pop-ups still shown
  document.addEventListener('click', (e) => {
    if (!e.target.closest || !e.target.closest('[role=tab]')) return;
    document.querySelectorAll('[data-testid=toast-close]').forEach((b) => b.click());
  }, true);
  document.addEventListener('click', (e) => {
    if (!e.target.closest) return;
    const w = e.target.closest('.gwb-words .w');
    if (w) return seek(w, +w.dataset.s);
    const row = e.target.closest('.gwb-segments .virtual-body [role=row]');  // Gradio's table: rows of cells
    const start = row && row.querySelector('[role=gridcell]');
    if (start && /^[0-9:.]+$/.test(start.innerText.trim())) seek(row, seconds(start.innerText));
  });
})();
</script>"""
