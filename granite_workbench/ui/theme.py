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
ins.diff { background: #a7f0ba; color: #044317; text-decoration: none; padding: 0 2px; border-radius: 3px; }
.worst { margin: 8px 0 14px; } .worst .pair { display: grid; grid-template-columns: 90px 1fr; gap: 4px 10px; margin-top: 4px; }
.muted { color: var(--body-text-color-subdued); }
.gwb-words { line-height: 1.9; padding: 6px 2px; }
.gwb-words .w { padding: 1px 2px; border-radius: 4px; cursor: pointer; }
.gwb-words .w:hover { background: var(--background-fill-secondary); }
.gwb-words .w.now { background: #ffd8a8; color: #1b1b1b; }
.wb-wrap { flex-wrap: wrap; }
.tab-wrapper { height: auto !important; }
.tab-container { flex-wrap: wrap !important; height: auto !important; }
.side-by-side { flex-wrap: nowrap !important; }
/* Phones (checked at 375 px by tests/test_ui_layout_browser.py): columns stack, side-by-side panes stack,
   wide tables scroll inside their box, the page margins shrink; nothing scrolls the page sideways. */
@media (max-width: 640px) {
  .side-by-side { flex-direction: column; }
  .side-by-side > div { width: 100%; }
  .row { flex-wrap: wrap !important; }
  .row > .column { min-width: 0 !important; flex: 1 1 100% !important; }
  .block { min-width: 0 !important; max-width: 100% !important; }
  .table-wrap, .table-container, .table { max-width: calc(100vw - 40px) !important; overflow-x: auto !important; }
}
"""


# Word highlighting (Transcribe tab, word timestamps): Gradio's audio player keeps its <audio> element out of the
# page, so the element that last started playing is remembered; each frame, the word whose span holds its
# current time is marked, and a click on a word seeks there.
HEAD = """<style>
/* page margins on phones: in <head> as is (Gradio rewrites the selectors of its css parameter) */
@media (max-width: 640px) {
  .gradio-container .main.fillable, .gradio-container .app { padding-left: 10px !important;
                                                             padding-right: 10px !important; }
}
</style>
<script>
(() => {
  let media = null, last = -1;
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function (...args) { media = this; return play.apply(this, args); };
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
  document.addEventListener('click', (e) => {
    const w = e.target.closest && e.target.closest('.gwb-words .w');
    if (w && media) { media.currentTime = +w.dataset.s; if (media.paused) media.play(); }
  });
})();
</script>"""
