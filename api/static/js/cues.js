/* The station screen's cues: what the worker hears and sees the moment a scan's result is
 * known. Web Audio tones made on the spot (no sound files to fetch) and a flash of the
 * result panel.
 */

// Each result its own tune, told apart without looking: [Hz, seconds, waveform]; Hz 0 is a rest.
//   loaded: one short high beep, all is well;
//   duplicate: two quick mid beeps, "that one again";
//   wrong container: falling high-low, twice, "not here";
//   rejected: a long low buzz, stop;
//   no stable weight: three rising beeps, "weigh it again";
//   not saved: a siren, the station cannot store scans.
const TUNES = {
  loaded: [[1320, 0.12, "sine"]],
  duplicate: [[660, 0.09, "sine"], [0, 0.07], [660, 0.09, "sine"]],
  wrong_container: [[880, 0.16, "triangle"], [440, 0.24, "triangle"], [0, 0.08], [880, 0.16, "triangle"], [440, 0.24, "triangle"]],
  rejected: [[196, 0.7, "square"]],
  no_weight: [[523, 0.1, "sine"], [0, 0.05], [659, 0.1, "sine"], [0, 0.05], [784, 0.1, "sine"]],
  not_saved: [[988, 0.2, "sawtooth"], [494, 0.2, "sawtooth"], [988, 0.2, "sawtooth"], [494, 0.2, "sawtooth"]],
  info: [[988, 0.08, "sine"]], // container or supplier set, drum received
};
// How the result panel flashes: the colours come from style.css ([data-flash=...]).
const FLASH_MS = 900;
const VOLUME = 0.3;
let audio = null;
let count = 0;

function context() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  audio = audio || new Ctx();
  return audio;
}

// Browsers start audio only after a touch or a key: the first one on the page unlocks it.
function unlock() {
  try {
    const ctx = context();
    if (ctx && ctx.state === "suspended") ctx.resume();
  } catch { /* no audio on this device: the flash remains */ }
  update();
}

function update() {
  const note = document.getElementById("screen-sound");
  if (note) note.hidden = Boolean(audio && audio.state === "running");
}

function play(kind) {
  const tune = TUNES[kind] || TUNES.info;
  try {
    const ctx = context();
    if (!ctx) return;
    let at = ctx.currentTime + 0.01;
    for (const [hz, seconds, wave] of tune) {
      if (hz) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = wave;
        osc.frequency.value = hz;
        // A short fade in and out: no clicks.
        gain.gain.setValueAtTime(0, at);
        gain.gain.linearRampToValueAtTime(VOLUME, at + 0.01);
        gain.gain.setValueAtTime(VOLUME, at + seconds - 0.02);
        gain.gain.linearRampToValueAtTime(0, at + seconds);
        osc.connect(gain).connect(ctx.destination);
        osc.start(at);
        osc.stop(at + seconds);
      }
      at += seconds;
    }
  } catch { /* no audio: the flash remains */ }
  update();
}

function flash(node, kind) {
  if (!node) return;
  count += 1;
  node.dataset.flash = kind;
  node.dataset.cues = String(count); // how many cues so far: a new one is visible to a test
  node.classList.remove("flash");
  void node.offsetWidth; // restart the animation even for the same kind twice in a row
  node.classList.add("flash");
  clearTimeout(node._flashTimer);
  node._flashTimer = setTimeout(() => node.classList.remove("flash"), FLASH_MS);
}

// What a station's newest result sounds like (a last scan as the API gives it).
function kindOf(scan, hasScale) {
  if (!scan) return null;
  if (scan.result === "loaded" || scan.result === "received") {
    // Stored without a weight at a station with a scale: it found no stable weight.
    if (hasScale && scan.weight_kg == null) return "no_weight";
    return scan.result === "loaded" ? "loaded" : "info";
  }
  if (["duplicate", "wrong_container", "rejected"].includes(scan.result)) return scan.result;
  return "info";
}

for (const type of ["pointerdown", "keydown", "touchstart"]) {
  document.addEventListener(type, unlock, { capture: true, passive: true });
}

// Sound and flash one result: ``kind`` is one of the TUNES.
export function cue(kind, node) {
  play(kind);
  flash(node, kind);
}

export { kindOf, update as updateSoundNote };
