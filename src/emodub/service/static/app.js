// emodub studio page: upload, follow progress (server-sent events), review each line beside the original's emotion,
// regenerate one line, download every version.  No build step; wavesurfer.js (+ regions) comes from npm via the set-up.
import WaveSurfer from "/static/vendor/node_modules/wavesurfer.js/dist/wavesurfer.esm.js";
import RegionsPlugin from "/static/vendor/node_modules/wavesurfer.js/dist/plugins/regions.esm.js";

const EMOTIONS = ["happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm"];
const EMOTIONS_ZH = { happy: "高兴", angry: "愤怒", sad: "悲伤", afraid: "害怕", disgusted: "厌恶", melancholic: "忧郁", surprised: "惊讶", calm: "平静" };
// the same colours as emodub/service/plot.py
const EMOTION_COLOURS = { happy: "#f2b134", angry: "#d1495b", sad: "#386fa4", afraid: "#8e6c8a", disgusted: "#6a994e",
  melancholic: "#59a5d8", surprised: "#ed7d3a", calm: "#9aa5b1" };

const TEXT = {
  en: { studio: "studio", synthetic: "Speech made here is synthetic and is marked as such in every file.", jobs: "Jobs", api: "API",
    newJob: "New dub", video: "Video", script: "Script (SRT, WebVTT, ASS; optional)",
    voice: "Voice for everyone (3–10 s; optional: else each speaker's own voice from the video)", consent: "Consent of the voice owner",
    consentHint: "e.g. Ana agreed on 2026-11-02 to this use of her voice", sync: "When a line does not fit its shot",
    syncFit: "fit it within 0.75–1.25", syncStrict: "leave it undubbed", start: "Dub", job: "Job", status: "Status", progress: "Progress",
    timeline: "Emotion of the original performance", lines: "Lines", time: "Time", speaker: "Speaker", detected: "Detected",
    naturalness: "sounds human:", naturalnessHelp: "DistillMOS, a score trained on human ratings: real people 3.7–4.4, robotic voices under 3",
    original: "Original", newLine: "New line", statusCol: "Status", edit: "Edit", downloads: "Downloads", regenerate: "Regenerate",
    keepEmotion: "— keep emotion —", keepSpeaker: "— keep speaker —", describe: "or describe: e.g. softer, tired", intensity: "intensity",
    queued: "queued", running: "running", done: "done", failed: "failed", version: "version", tokenPrompt: "This studio needs its access token:",
    videoFile: "video", audioFile: "audio (WAV, all channels)", scriptFile: "script (SRT)", reportFile: "report (JSON)", plotFile: "emotion plot (PNG)",
    used: "used", uploading: "uploading…", editFailed: "regenerate failed",
    commercial: "Commercial use: only models whose terms allow it", provenance: "What this dub says about itself",
    consentGiven: "Consent", voiceHash: "Voice files (SHA-256)", watermark: "Watermark", watermarkOn: "in every new line:",
    watermarkOff: "none:", models: "Models and licences", notCommercial: "not for commercial use", leftOut: "Left out (--commercial)" },
  zh: { studio: "工作室", synthetic: "此处生成的语音为合成语音，每个文件都带有合成标记。", jobs: "任务", api: "接口",
    newJob: "新建配音", video: "视频", script: "台词文件（SRT、WebVTT、ASS；可选）",
    voice: "统一音色（3–10 秒；可选：否则使用视频中各说话人自己的声音）", consent: "声音所有者的授权说明",
    consentHint: "例如：安娜于 2026-11-02 同意以此方式使用她的声音", sync: "台词与镜头长度不符时",
    syncFit: "在 0.75–1.25 倍内调整", syncStrict: "不配音", start: "开始配音", job: "任务", status: "状态", progress: "进度",
    timeline: "原始表演的情绪", lines: "台词", time: "时间", speaker: "说话人", detected: "识别的情绪",
    naturalness: "自然度:", naturalnessHelp: "DistillMOS（以人工评分训练）：真人 3.7–4.4，机械声低于 3",
    original: "原声", newLine: "新台词", statusCol: "状态", edit: "修改", downloads: "下载", regenerate: "重新生成",
    keepEmotion: "— 保持情绪 —", keepSpeaker: "— 保持说话人 —", describe: "或描述：例如 更温柔、疲惫", intensity: "强度",
    queued: "排队中", running: "进行中", done: "完成", failed: "失败", version: "版本", tokenPrompt: "此工作室需要访问令牌：",
    videoFile: "视频", audioFile: "音频（WAV，全部声道）", scriptFile: "字幕（SRT）", reportFile: "报告（JSON）", plotFile: "情绪图（PNG）",
    used: "使用", uploading: "上传中…", editFailed: "重新生成失败",
    commercial: "商业用途：只用条款允许商用的模型", provenance: "此配音的来源说明",
    consentGiven: "授权", voiceHash: "声音文件（SHA-256）", watermark: "水印", watermarkOn: "每句新台词都带有：",
    watermarkOff: "无：", models: "模型与许可", notCommercial: "不可商用", leftOut: "已排除（--commercial）" },
};
const LANG = (navigator.languages || [navigator.language]).some((l) => l && l.toLowerCase().startsWith("zh")) ? "zh" : "en";
const t = (key) => TEXT[LANG][key] ?? TEXT.en[key] ?? key;
const $ = (selector, root = document) => root.querySelector(selector);

function translatePage() {
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
}

// -- the API, with the token asked once and kept for the session ------------------------------------------
function token() { return sessionStorage.getItem("emodub-token"); }
function withToken(url) { return token() ? `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token())}` : url; }

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    const given = window.prompt(t("tokenPrompt"));
    if (given) { sessionStorage.setItem("emodub-token", given.trim()); return api(path, options); }
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

// -- jobs list and upload ----------------------------------------------------------------------------------
async function refreshJobs() {
  const jobs = await api("/api/jobs");
  const body = $("#job-list tbody");
  body.replaceChildren(...jobs.map((job) => {
    const row = document.createElement("tr");
    row.dataset.id = job.id;
    row.innerHTML = `<td><code></code></td><td></td><td class="status ${job.status}"></td><td><progress max="1"></progress></td>`;
    row.cells[0].firstChild.textContent = job.id;
    row.cells[1].textContent = (job.inputs.names || {}).video || job.inputs.video;
    row.cells[2].textContent = t(job.status);
    row.cells[3].firstChild.value = job.progress;
    row.addEventListener("click", () => { location.hash = job.id; });
    return row;
  }));
}

async function upload(event) {
  event.preventDefault();
  const form = event.target;
  const data = new FormData();
  data.append("video", form.video.files[0]);
  if (form.script.files[0]) data.append("script", form.script.files[0]);
  if (form.voice.files[0]) data.append("voice", form.voice.files[0]);
  data.append("options", JSON.stringify({ consent: form.consent.value, sync: form.sync.value, commercial: form.commercial.checked }));
  const button = $("button", form);
  button.disabled = true;
  $("#upload-error").textContent = t("uploading");
  try {
    const job = await api("/api/jobs", { method: "POST", body: data });
    $("#upload-error").textContent = "";
    location.hash = job.id;
    await refreshJobs();
  } catch (error) {
    $("#upload-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

// -- one job ---------------------------------------------------------------------------------------------
let current = { id: null, events: null, wave: null, shownVersion: 0 };

async function openJob(id) {
  if (current.events) current.events.close();
  current = { id, events: null, wave: current.wave, shownVersion: 0 };
  $("#job").hidden = false;
  $("#job-id").textContent = id;
  await showJob(await api(`/api/jobs/${id}`));
  follow(id);
}

function follow(id) {
  if (current.events) current.events.close();
  const events = new EventSource(withToken(`/api/jobs/${id}/events`));
  current.events = events;
  events.addEventListener("progress", (message) => {
    const data = JSON.parse(message.data);
    $("#job-progress").value = data.progress;
    $("#job-stage").textContent = data.stage;
  });
  const reload = async () => { if (current.id === id) await showJob(await api(`/api/jobs/${id}`)); refreshJobs(); };
  events.addEventListener("status", reload);
  events.addEventListener("cue", reload);
  events.addEventListener("end", () => { events.close(); reload(); });
}

async function showJob(job) {
  const status = $("#job-status");
  status.textContent = t(job.status) + (job.version ? ` · ${t("version")} ${job.version}` : "");
  status.className = `status ${job.status}`;
  status.dataset.status = job.status;
  status.dataset.version = job.version;
  $("#job-progress").value = job.progress;
  $("#job-stage").textContent = job.status === "done" ? "" : job.stage;
  $("#job-error").textContent = job.error || "";
  if (!job.version || !job.report) { $("#job-result").hidden = true; return; }
  $("#job-result").hidden = false;
  if (current.shownVersion !== job.version) {
    current.shownVersion = job.version;
    $("#dubbed-video").src = withToken(job.outputs.video);
    $("#emotion-plot").src = withToken(job.outputs.plot);
    drawTimeline(job);
    showDownloads(job);
    showProvenance(job.report);
  }
  showCues(job);
}

function drawTimeline(job) {
  if (current.wave) current.wave.destroy();
  const regions = RegionsPlugin.create();
  const wave = WaveSurfer.create({ container: "#waveform", height: 80, waveColor: "#9aa5b1", progressColor: "#2f6fde",
    url: withToken(job.original.track), plugins: [regions] });
  current.wave = wave;
  wave.on("decode", () => {
    for (const cue of job.report.cues) {
      const dominant = cue.detected && cue.detected.dominant;
      regions.addRegion({ id: `cue-${cue.index}`, start: cue.start_s, end: cue.end_s, drag: false, resize: false,
        color: `${EMOTION_COLOURS[dominant] || "#cccccc"}66`, content: `${cue.index} ${dominant ? emotionName(dominant) : ""}` });
    }
  });
  regions.on("region-clicked", (region, event) => { event.stopPropagation(); region.play(true); });
  $("#legend").replaceChildren(...EMOTIONS.map((name) => {
    const item = document.createElement("span");
    item.innerHTML = `<i style="background:${EMOTION_COLOURS[name]}"></i>`;
    item.append(emotionName(name));
    return item;
  }));
}

function emotionName(name) { return LANG === "zh" ? EMOTIONS_ZH[name] || name : name; }

function showDownloads(job) {
  const labels = { video: "videoFile", audio: "audioFile", script: "scriptFile", report: "reportFile", plot: "plotFile" };
  $("#downloads").replaceChildren(...job.versions.slice().reverse().map((version) => {
    const item = document.createElement("li");
    item.dataset.version = version.version;
    item.append(`${t("version")} ${version.version}: `);
    for (const [key, label] of Object.entries(labels)) {
      const link = document.createElement("a");
      link.href = withToken(version.outputs[key]);
      link.className = key;
      link.download = "";
      link.textContent = t(label);
      item.append(link, " ");
    }
    return item;
  }));
}

function showProvenance(report) {
  // consent beside each voice it is for, the watermark, every model with its licence: all as text nodes, never markup
  const rows = [];
  const add = (term, ...lines) => {
    const dt = document.createElement("dt");
    dt.textContent = term;
    rows.push(dt, ...lines.map((line) => { const dd = document.createElement("dd"); dd.textContent = line; return dd; }));
  };
  add(t("consentGiven"), report.consent || "—");
  add(t("voiceHash"), ...Object.entries(report.voice_sha256 || {}).map(([name, hash]) =>
    `${name === "*" ? t("voice").split(" (")[0] : name}: ${(report.voices || {})[name] ? (report.voices[name].split("/").pop() + " · ") : ""}${hash.slice(0, 16)}…`));
  const mark = report.watermark || {};
  add(t("watermark"), mark.applied ? `${t("watermarkOn")} ${mark.method}` : `${t("watermarkOff")} ${mark.reason || "—"}`);
  add(t("models"), ...(report.models || []).map((m) => `${m.role}: ${m.weights} — ${m.licence}${m.commercial ? "" : ` (${t("notCommercial")})`}`));
  if ((report.excluded_for_commercial_use || []).length) {
    add(t("leftOut"), ...report.excluded_for_commercial_use.map((m) => `${m.weights}: ${m.terms}`));
  }
  $("#provenance").replaceChildren(...rows);
}

function showCues(job) {
  const pending = new Map(job.edits.filter((e) => e.status === "queued" || e.status === "running").map((e) => [e.cue, e]));
  const failed = new Map(job.edits.filter((e) => e.status === "failed").map((e) => [e.cue, e]));
  const speakers = (job.summary && job.summary.speakers) || [];
  const body = $("#cues tbody");
  body.replaceChildren(...job.report.cues.map((cue) => {
    const row = document.createElement("tr");
    row.id = `cue-${cue.index}`;
    row.className = pending.has(cue.index) ? "busy" : "";
    const detected = cue.detected || {};
    const described = (detected.description || {})[LANG] || "";
    const used = (cue.description || {})[LANG] || "";
    row.innerHTML = `<td>${cue.index}</td><td>${cue.start_s.toFixed(2)}–${cue.end_s.toFixed(2)} s</td><td class="speaker"></td>
      <td class="detected"><b></b><div class="desc"></div></td>
      <td><audio controls preload="none" class="original"></audio></td>
      <td><audio controls preload="none" class="new"></audio><div class="used desc"></div></td>
      <td class="cue-status"></td>
      <td><div class="controls"><textarea class="text"></textarea>
        <select class="emotion"><option value="">${t("keepEmotion")}</option>${EMOTIONS.map((e) => `<option value="${e}">${emotionName(e)}</option>`).join("")}</select>
        <label>${t("intensity")} <input type="range" class="intensity" min="0" max="1" step="0.05" value="0.8"></label>
        <input type="text" class="emotion-text" placeholder="${t("describe")}">
        <select class="speaker-choice"><option value="">${t("keepSpeaker")}</option></select>
        <button class="regenerate">${t("regenerate")}</button></div><div class="error"></div></td>`;
    $(".speaker", row).textContent = (cue.speakers || []).filter(Boolean).join(", ");
    $(".detected b", row).textContent = detected.dominant ? emotionName(detected.dominant) : "—";
    $(".detected .desc", row).textContent = described;
    $(".used", row).textContent = used ? `${t("used")}: ${used}` : "";
    $("audio.original", row).src = withToken(job.original.cue_audio.replace("{index:03d}", String(cue.index).padStart(3, "0")));
    if (cue.status !== "not-dubbed" && cue.status !== "kept-original") {
      $("audio.new", row).src = withToken(job.cue_audio.replace("{index:03d}", String(cue.index).padStart(3, "0")));
    } else {
      $("audio.new", row).remove();
    }
    const state = $(".cue-status", row);
    state.textContent = pending.has(cue.index) ? t(pending.get(cue.index).status) : cue.status;
    if (typeof cue.naturalness === "number") {
      const natural = document.createElement("div");
      natural.className = "naturalness";
      natural.title = t("naturalnessHelp");
      natural.textContent = `${t("naturalness")} ${cue.naturalness.toFixed(2)} / 5`;
      state.append(natural);
    }
    for (const warning of cue.warnings || []) {
      const note = document.createElement("div");
      note.className = "warn";
      note.textContent = warning;
      state.append(note);
    }
    if (failed.has(cue.index) && !pending.has(cue.index)) $(".error", row).textContent = `${t("editFailed")}: ${failed.get(cue.index).error}`;
    $("textarea.text", row).value = cue.text;
    const choice = $("select.speaker-choice", row);
    for (const name of speakers) choice.append(new Option(name, name));
    $("button.regenerate", row).disabled = pending.has(cue.index);
    $("button.regenerate", row).addEventListener("click", () => regenerate(job, cue, row));
    return row;
  }));
}

async function regenerate(job, cue, row) {
  const edit = {};
  const text = $("textarea.text", row).value;
  if (text.trim() !== cue.text.trim()) edit.text = text;
  const emotion = $("select.emotion", row).value;
  if (emotion) { edit.emotion = emotion; edit.intensity = Number($("input.intensity", row).value); }
  const description = $("input.emotion-text", row).value.trim();
  if (description) edit.emotion_text = description;
  const speaker = $("select.speaker-choice", row).value;
  if (speaker) edit.speaker = speaker;
  $(".error", row).textContent = "";
  $("button.regenerate", row).disabled = true;
  try {
    await api(`/api/jobs/${job.id}/cues/${cue.index}`, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(edit) });
    row.className = "busy";
    $(".cue-status", row).textContent = t("queued");
    follow(job.id);
  } catch (error) {
    $(".error", row).textContent = error.message;
    $("button.regenerate", row).disabled = false;
  }
}

// -- start -------------------------------------------------------------------------------------------------
function route() {
  const id = location.hash.replace(/^#/, "");
  if (id) openJob(id).catch((error) => { $("#job").hidden = false; $("#job-error").textContent = error.message; });
  else $("#job").hidden = true;
}

translatePage();
$("#upload-form").addEventListener("submit", upload);
$("#nav-jobs").addEventListener("click", (event) => { event.preventDefault(); location.hash = ""; });
window.addEventListener("hashchange", route);
refreshJobs().catch((error) => { $("#upload-error").textContent = error.message; });
route();
