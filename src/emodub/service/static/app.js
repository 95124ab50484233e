// emodub studio page: try a line, upload, follow progress (server-sent events), edit the cues on a timeline, compare takes,
// fix a line in one click, download every version.  No build step; wavesurfer.js (+ regions) comes from npm via the set-up.
import WaveSurfer from "/static/vendor/node_modules/wavesurfer.js/dist/wavesurfer.esm.js";
import RegionsPlugin from "/static/vendor/node_modules/wavesurfer.js/dist/plugins/regions.esm.js";

const EMOTIONS = ["happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm"];
const EMOTIONS_ZH = { happy: "高兴", angry: "愤怒", sad: "悲伤", afraid: "害怕", disgusted: "厌恶", melancholic: "忧郁", surprised: "惊讶", calm: "平静" };
// the same colours as emodub/service/plot.py
const EMOTION_COLOURS = { happy: "#f2b134", angry: "#d1495b", sad: "#386fa4", afraid: "#8e6c8a", disgusted: "#6a994e",
  melancholic: "#59a5d8", surprised: "#ed7d3a", calm: "#9aa5b1" };
const DEFAULT_INTENSITY = 0.8;

const TEXT = {
  en: { studio: "studio", synthetic: "Speech made here is synthetic and is marked as such in every file.", jobs: "Jobs", api: "API",
    tryLine: "Try a line", tryText: "Line to say", tryHint: "e.g. I told you I would come back.", tryVoice: "Voice (3–10 s of speech)",
    tryKnown: "or a voice from a finished job", noKnownVoice: "— upload a voice —", emotion: "Emotion", neutral: "— as the voice speaks —",
    say: "Say it", saying: "making the line…", tryMade: "made in", tryNeedsVoice: "Choose a voice: upload 3–10 s of speech or pick one from a finished job.",
    newJob: "New dub", video: "Video", script: "Script (SRT, WebVTT, ASS; optional)", submitted: "Submitted",
    voice: "Voice for everyone (3–10 s; optional: else each speaker's own voice from the video)", consent: "Consent of the voice owner",
    consentHint: "e.g. Ana agreed on 2026-11-02 to this use of her voice", sync: "When a line does not fit its shot",
    syncFit: "fit it within 0.75–1.25", syncStrict: "leave it undubbed", start: "Dub", job: "Job", status: "Status", progress: "Progress",
    plot: "Emotion of the original and of the new lines", timeline: "Timeline", laneOriginal: "Original", laneNew: "New track",
    timelineHelp: "Drag a line to move it, drag its edges to change its length: the line is redone to fit. Click a line to hear the original.",
    lines: "Lines", who: "Time · speaker · detected", takes: "Original and takes", speaker: "Speaker", detected: "Detected",
    statusCol: "Status", edit: "Edit", downloads: "Downloads", regenerate: "Regenerate", original: "Original",
    keepEmotion: "— keep emotion —", keepSpeaker: "— keep speaker —", describe: "or describe: e.g. softer, tired", intensity: "intensity",
    queued: "Waiting to start", running: "Working", done: "Ready", failed: "Failed", version: "version", tokenPrompt: "This studio needs its access token:",
    take: "Take", useTake: "Use this take", details: "Details", inMix: "in the mix", noAudio: "no audio",
    videoFile: "video", audioFile: "audio (WAV, all channels)", scriptFile: "script (SRT)", reportFile: "report (JSON)", plotFile: "emotion plot (PNG)",
    uploading: "uploading…", editFailed: "regenerate failed", moved: "moving the line to", redoing: "Redoing this line…",
    commercial: "Commercial use: only models whose terms allow it", provenance: "What this dub says about itself",
    consentGiven: "Consent", voiceHash: "Voice files (SHA-256)", watermark: "Watermark", watermarkOn: "in every new line:",
    watermarkOff: "none:", models: "Models and licences", notCommercial: "not for commercial use", leftOut: "Left out (--commercial)" },
  zh: { studio: "工作室", synthetic: "此处生成的语音为合成语音，每个文件都带有合成标记。", jobs: "任务", api: "接口",
    tryLine: "试说一句", tryText: "要说的台词", tryHint: "例如：我说过我会回来的。", tryVoice: "音色（3–10 秒语音）",
    tryKnown: "或选用已完成任务的音色", noKnownVoice: "— 上传音色 —", emotion: "情绪", neutral: "— 按音色原样 —",
    say: "试听", saying: "正在生成…", tryMade: "用时", tryNeedsVoice: "请选择音色：上传 3–10 秒语音，或选用已完成任务的音色。",
    newJob: "新建配音", video: "视频", script: "台词文件（SRT、WebVTT、ASS；可选）", submitted: "提交时间",
    voice: "统一音色（3–10 秒；可选：否则使用视频中各说话人自己的声音）", consent: "声音所有者的授权说明",
    consentHint: "例如：安娜于 2026-11-02 同意以此方式使用她的声音", sync: "台词与镜头长度不符时",
    syncFit: "在 0.75–1.25 倍内调整", syncStrict: "不配音", start: "开始配音", job: "任务", status: "状态", progress: "进度",
    plot: "原始表演与新台词的情绪", timeline: "时间线", laneOriginal: "原声", laneNew: "新音轨",
    timelineHelp: "拖动台词可移动位置，拖动边缘可改变长度：台词会按新长度重做。点击台词可试听原声。",
    lines: "台词", who: "时间 · 说话人 · 识别的情绪", takes: "原声与各版", speaker: "说话人", detected: "识别的情绪",
    statusCol: "状态", edit: "修改", downloads: "下载", regenerate: "重新生成", original: "原声",
    keepEmotion: "— 保持情绪 —", keepSpeaker: "— 保持说话人 —", describe: "或描述：例如 更温柔、疲惫", intensity: "强度",
    queued: "等待开始", running: "进行中", done: "已完成", failed: "失败", version: "版本", tokenPrompt: "此工作室需要访问令牌：",
    take: "第", useTake: "使用此版", details: "详情", inMix: "已混入", noAudio: "无音频",
    videoFile: "视频", audioFile: "音频（WAV，全部声道）", scriptFile: "字幕（SRT）", reportFile: "报告（JSON）", plotFile: "情绪图（PNG）",
    uploading: "上传中…", editFailed: "重新生成失败", moved: "移动台词到", redoing: "正在重做这句台词…",
    commercial: "商业用途：只用条款允许商用的模型", provenance: "此配音的来源说明",
    consentGiven: "授权", voiceHash: "声音文件（SHA-256）", watermark: "水印", watermarkOn: "每句新台词都带有：",
    watermarkOff: "无：", models: "模型与许可", notCommercial: "不可商用", leftOut: "已排除（--commercial）" },
};
const LANG = (navigator.languages || [navigator.language]).some((l) => l && l.toLowerCase().startsWith("zh")) ? "zh" : "en";
const t = (key) => TEXT[LANG][key] ?? TEXT.en[key] ?? key;
const $ = (selector, root = document) => root.querySelector(selector);
const percent = (fraction) => `${Math.round(100 * (fraction || 0))} %`;
const seconds = (value) => `${value.toFixed(2)} s`;
const clipUrl = (template, index) => template.replace("{index:03d}", String(index).padStart(3, "0"));

function translatePage() {
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
}

function emotionName(name) { return LANG === "zh" ? EMOTIONS_ZH[name] || name : name; }
function emotionOptions(select) { for (const name of EMOTIONS) select.append(new Option(emotionName(name), name)); }
function applied(emotion) { return emotion ? `${emotionName(emotion.name)} ${emotion.intensity.toFixed(2)}` : "—"; }

// a range input with its value shown beside it
function showValue(range) {
  const output = range.parentElement.querySelector("output");
  const update = () => { output.textContent = Number(range.value).toFixed(2); };
  range.addEventListener("input", update);
  update();
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

const postJson = (path, body) => api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

// -- try a line ----------------------------------------------------------------------------------------------
async function refreshVoices() {
  const select = $("#try-form select[name=voice_id]");
  const chosen = select.value;
  const voices = await api("/api/voices");
  select.replaceChildren(new Option(t("noKnownVoice"), ""), ...voices.map((voice) => new Option(voice.label, voice.id)));
  if (voices.some((voice) => voice.id === chosen)) select.value = chosen;
}

async function tryLine(event) {
  event.preventDefault();
  const form = event.target;
  const data = new FormData();
  data.append("text", form.text.value);
  if (form.voice.files[0]) data.append("voice", form.voice.files[0]);
  else if (form.voice_id.value) data.append("voice_id", form.voice_id.value);
  else { $("#try-error").textContent = t("tryNeedsVoice"); return; }
  if (form.emotion.value) data.append("emotion", `${form.emotion.value}:${form.intensity.value}`);
  data.append("consent", form.consent.value);
  const button = $("button", form);
  button.disabled = true;
  $("#try-error").textContent = "";
  $("#try-info").textContent = t("saying");
  const started = performance.now();
  try {
    const line = await api("/api/say", { method: "POST", body: data });
    const audio = $("#try-audio");
    audio.hidden = false;
    audio.src = withToken(line.audio);
    $("#try-info").textContent = `${t("tryMade")} ${((performance.now() - started) / 1000).toFixed(1)} s`;
    audio.play().catch(() => {});  // a browser may refuse autoplay: the player is there to press
  } catch (error) {
    $("#try-info").textContent = "";
    $("#try-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

// -- jobs list and upload ----------------------------------------------------------------------------------
function submittedAt(job) {
  return new Date(job.created * 1000).toLocaleString(LANG === "zh" ? "zh-CN" : undefined, { dateStyle: "medium", timeStyle: "short" });
}

function setProgress(root, fraction, stage) {
  $("progress", root).value = fraction;
  $(".percent", root).textContent = percent(fraction);
  if (stage !== undefined) $("progress", root).title = stage;
}

let activeJobs = false;

async function refreshJobs() {
  const jobs = await api("/api/jobs");
  activeJobs = jobs.some((job) => job.status === "queued" || job.status === "running");
  const body = $("#job-list tbody");
  body.replaceChildren(...jobs.map((job) => {
    const row = document.createElement("tr");
    row.dataset.id = job.id;
    row.className = job.id === current.id ? "open" : "";
    row.innerHTML = `<td class="name"></td><td class="when"></td><td class="status ${job.status}"></td>
      <td class="progress"><span class="bar"><progress max="1"></progress> <span class="percent"></span></span></td>`;
    $(".name", row).textContent = job.name;
    $(".name", row).title = job.id;
    $(".when", row).textContent = submittedAt(job);
    $(".status", row).textContent = t(job.status);
    setProgress(row, job.progress, job.stage);
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
    form.reset();  // the files are sent: a second press would dub them twice
    location.hash = job.id;
    await refreshJobs();
  } catch (error) {
    $("#upload-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

// -- one job ---------------------------------------------------------------------------------------------
let current = { id: null, events: null, waves: [], shownVersion: 0, job: null };

async function openJob(id) {
  if (current.events) current.events.close();
  current = { id, events: null, waves: current.waves, shownVersion: 0, job: null };
  $("#job").hidden = false;
  $("#job-id").textContent = id;
  await showJob(await api(`/api/jobs/${id}`));
  follow(id);
  refreshJobs();
}

function follow(id) {
  if (current.events) current.events.close();
  const events = new EventSource(withToken(`/api/jobs/${id}/events`));
  current.events = events;
  events.addEventListener("progress", (message) => {
    const data = JSON.parse(message.data);
    setProgress($("#job .bar"), data.progress);
    $("#job-stage").textContent = data.stage;
    const row = $(`#job-list tr[data-id="${id}"]`);  // the list shows the same figure as the panel
    if (row) setProgress(row, data.progress, data.stage);
  });
  const reload = async () => { if (current.id === id) await showJob(await api(`/api/jobs/${id}`)); refreshJobs(); };
  events.addEventListener("status", reload);
  events.addEventListener("cue", reload);
  events.addEventListener("end", () => { events.close(); reload(); refreshVoices(); });
}

async function showJob(job) {
  current.job = job;
  $("#job-name").textContent = job.name;
  const status = $("#job-status");
  status.textContent = t(job.status) + (job.version ? ` · ${t("version")} ${job.version}` : "");
  status.className = `status ${job.status}`;
  status.dataset.status = job.status;
  status.dataset.version = job.version;
  $("#job-progress").value = job.progress;
  $("#job-percent").textContent = percent(job.progress);
  $("#job-stage").textContent = job.status === "done" ? "" : job.stage;
  $("#job-error").textContent = job.error || "";
  if (!job.version || !job.report) { $("#job-result").hidden = true; return; }
  $("#job-result").hidden = false;
  if (current.shownVersion !== job.version) {
    current.shownVersion = job.version;
    showVideo(withToken(job.outputs.video));
    $("#emotion-plot").src = withToken(job.outputs.plot);
    drawTimeline(job);
    showDownloads(job);
    showProvenance(job.report);
  }
  showCues(job);
}

function showVideo(url) {
  // a video shows black until played unless a frame is decoded: seek to the first one once its metadata is in
  const video = $("#dubbed-video");
  const time = video.currentTime;
  video.addEventListener("loadedmetadata", () => { video.currentTime = Math.min(Math.max(time, 0.001), video.duration || 0); }, { once: true });
  video.src = url;
}

// -- the timeline: the cues as regions over the original, the new track beneath, one playhead with the video -------
function drawTimeline(job) {
  for (const wave of current.waves) wave.destroy();
  const video = $("#dubbed-video");
  const regions = RegionsPlugin.create();
  const original = WaveSurfer.create({ container: "#waveform", height: 72, waveColor: "#9aa5b1", progressColor: "#5b6b80",
    cursorColor: "#d1495b", url: withToken(job.original.track), plugins: [regions] });
  const dubbed = WaveSurfer.create({ container: "#waveform-new", height: 56, waveColor: "#8fb0ea", progressColor: "#2f6fde",
    cursorColor: "#d1495b", url: withToken(job.outputs.audio) });
  current.waves = [original, dubbed];
  for (const wave of current.waves) {
    wave.on("interaction", (time) => { video.currentTime = time; });  // clicking a lane moves the video and both playheads
  }
  video.ontimeupdate = () => { for (const wave of current.waves) if (!wave.isPlaying()) wave.setTime(video.currentTime); };
  video.onplay = () => { for (const wave of current.waves) wave.pause(); };
  original.on("decode", () => {
    for (const cue of job.report.cues) {
      const dominant = cue.detected && cue.detected.dominant;
      regions.addRegion({ id: `cue-${cue.index}`, start: cue.start_s, end: cue.end_s, drag: true, resize: true, minLength: 0.3,
        color: `${EMOTION_COLOURS[dominant] || "#cccccc"}66`, content: `${cue.index} ${dominant ? emotionName(dominant) : ""}` });
    }
  });
  regions.on("region-clicked", (region, event) => { event.stopPropagation(); video.pause(); region.play(true); });
  regions.on("region-updated", (region) => retime(job, region));
  $("#legend").replaceChildren(...EMOTIONS.map((name) => {
    const item = document.createElement("span");
    item.innerHTML = `<i style="background:${EMOTION_COLOURS[name]}"></i>`;
    item.append(emotionName(name));
    return item;
  }));
}

async function retime(job, region) {
  // a region dragged or resized: the server snaps it to frames and checks it against the video and its neighbours
  const index = Number(region.id.replace("cue-", ""));
  const cue = job.report.cues.find((c) => c.index === index);
  const edit = {};  // only the edges that moved: an edge left alone keeps its time exactly
  const ms = (value) => Math.round(value * 1000) / 1000;
  if (Math.abs(region.start - cue.start_s) > 0.001) edit.start_s = ms(region.start);
  if (Math.abs(region.end - cue.end_s) > 0.001) edit.end_s = ms(region.end);
  if (!Object.keys(edit).length) return;
  $("#timeline-error").textContent = `${t("moved")} ${seconds(edit.start_s ?? cue.start_s)}–${seconds(edit.end_s ?? cue.end_s)}…`;
  try {
    await sendEdit(job, cue, edit);
    $("#timeline-error").textContent = "";
  } catch (error) {
    region.setOptions({ start: cue.start_s, end: cue.end_s });  // refused: back where it was
    $("#timeline-error").textContent = `${index}: ${error.message}`;
  }
}

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

// -- the lines: takes, status in words with its fixes, the edit controls showing what is applied ------------------
function showCues(job) {
  const pending = new Map(job.edits.filter((e) => e.status === "queued" || e.status === "running").map((e) => [e.cue, e]));
  const failed = new Map(job.edits.filter((e) => e.status === "failed").map((e) => [e.cue, e]));
  const speakers = (job.summary && job.summary.speakers) || [];
  $("#cues tbody").replaceChildren(...job.report.cues.map((cue) => cueRow(job, cue, speakers, pending.get(cue.index), failed.get(cue.index))));
}

function cueRow(job, cue, speakers, pending, failed) {
  const row = document.createElement("tr");
  row.id = `cue-${cue.index}`;
  const advice = cue.advice;
  row.className = [pending ? "busy" : "", advice.needs_attention ? "attention" : "", advice.level === "bad" ? "bad" : ""].join(" ").trim();
  row.dataset.level = advice.level;
  const detected = cue.detected || {};
  row.innerHTML = `<td>${cue.index}</td>
    <td><div class="time"></div><div class="speaker"></div><div class="detected"><b></b><div class="desc"></div></div></td>
    <td><div class="desc">${t("original")}</div><audio controls preload="none" class="original"></audio><div class="take-list"></div></td>
    <td class="cue-status"><div class="advice"></div><div class="fixes"></div><div class="badges"></div><div class="notes"></div></td>
    <td><div class="controls"><textarea class="text"></textarea>
      <select class="emotion"><option value="">${t("keepEmotion")}</option></select>
      <label class="range">${t("intensity")} <input type="range" class="intensity" min="0.05" max="1" step="0.05"> <output></output></label>
      <input type="text" class="emotion-text" placeholder="${t("describe")}">
      <select class="speaker-choice"><option value="">${t("keepSpeaker")}</option></select>
      <button class="regenerate">${t("regenerate")}</button></div><div class="error"></div></td>`;
  $(".time", row).textContent = `${seconds(cue.start_s)} – ${seconds(cue.end_s)}`;
  $(".speaker", row).textContent = (cue.speakers || []).filter(Boolean).join(", ");
  $(".detected b", row).textContent = detected.dominant ? emotionName(detected.dominant) : "—";
  $(".detected .desc", row).textContent = (detected.description || {})[LANG] || "";
  $("audio.original", row).src = withToken(clipUrl(job.original.cue_audio, cue.index));
  $(".take-list", row).replaceChildren(...cue.takes.map((take) => takeItem(job, cue, take, pending)));
  showAdvice(job, cue, row, pending);
  if (pending) $(".advice", row).textContent = t("redoing");
  if (failed && !pending) $(".error", row).textContent = `${t("editFailed")}: ${failed.error}`;

  // the controls show what the chosen take was made with, so the next regenerate starts from it
  const take = cue.takes.find((k) => k.chosen) || cue.takes[cue.takes.length - 1];
  const emotion = $("select.emotion", row);
  emotionOptions(emotion);
  const intensity = $("input.intensity", row);
  if (take.directed && take.emotion) { emotion.value = take.emotion.name; intensity.value = take.emotion.intensity; }
  else intensity.value = cue.applied ? cue.applied.intensity : DEFAULT_INTENSITY;
  showValue(intensity);
  $("input.emotion-text", row).value = take.emotion_text || "";
  $("textarea.text", row).value = cue.text;
  const choice = $("select.speaker-choice", row);
  for (const name of speakers) choice.append(new Option(name, name));
  if (take.speaker && speakers.includes(take.speaker)) choice.value = take.speaker;
  const shown = { emotion: emotion.value, intensity: intensity.value, emotion_text: $("input.emotion-text", row).value, speaker: choice.value };
  const button = $("button.regenerate", row);
  button.disabled = Boolean(pending);
  button.addEventListener("click", () => regenerate(job, cue, row, shown));
  return row;
}

function takeItem(job, cue, take, pending) {
  const item = document.createElement("div");
  item.className = `take${take.chosen ? " chosen" : ""}`;
  item.dataset.take = take.take;
  item.innerHTML = `<div class="head"><b></b><span class="what"></span></div>`;
  $("b", item).textContent = LANG === "zh" ? `${t("take")} ${take.take} 版` : `${t("take")} ${take.take}`;
  $(".what", item).textContent = `${applied(take.emotion)} · ${seconds(take.start_s)}–${seconds(take.end_s)} · “${take.text}”`;
  if (take.audio) {
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "none";
    audio.src = withToken(take.audio);
    item.append(audio);
  } else {
    $(".head", item).append(t("noAudio"));
  }
  if (take.chosen) {
    const mark = document.createElement("span");
    mark.className = "in-mix";
    mark.textContent = `✓ ${t("inMix")}`;
    $(".head", item).append(mark);
  } else if (cue.takes.length > 1) {
    const use = document.createElement("button");
    use.className = "secondary use-take";
    use.textContent = t("useTake");
    use.disabled = Boolean(pending);
    use.addEventListener("click", async () => {
      use.disabled = true;
      try {
        await api(`/api/jobs/${job.id}/cues/${cue.index}/takes/${take.take}`, { method: "POST" });
        follow(job.id);
      } catch (error) {
        $(`#cue-${cue.index} .error`).textContent = error.message;
        use.disabled = false;
      }
    });
    $(".head", item).append(use);
  }
  return item;
}

function showAdvice(job, cue, row, pending) {
  const advice = cue.advice;
  $(".advice", row).textContent = advice.summary[LANG] || advice.summary.en;
  $(".fixes", row).replaceChildren(...advice.actions.map((action) => {
    const button = document.createElement("button");
    button.className = `secondary fix ${action.kind}`;
    button.textContent = action[LANG] || action.en;
    button.disabled = Boolean(pending);
    button.addEventListener("click", async () => {
      if (action.kind === "edit-text") { const text = $("textarea.text", row); text.focus(); text.select(); return; }
      button.disabled = true;
      try { await sendEdit(job, cue, action.edit); } catch (error) { $(".error", row).textContent = error.message; button.disabled = false; }
    });
    return button;
  }));
  $(".badges", row).replaceChildren(...advice.badges.map((badge) => {
    const item = document.createElement("span");
    item.className = `badge ${badge.name} ${badge.ok === true ? "ok" : badge.ok === false ? "missed" : "unknown"}`;
    item.textContent = badge[LANG] || badge.en;
    item.title = badge.help;
    return item;
  }));
  // the engine's own notes (clamps, gain, ratios) stay one click away, behind the status in words
  const warnings = cue.warnings || [];
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = `${t("details")} (${warnings.length})`;
  details.append(summary, ...warnings.map((warning) => {
    const note = document.createElement("div");
    note.className = "warn";
    note.textContent = warning;
    return note;
  }));
  $(".notes", row).replaceChildren(...(warnings.length ? [details] : []));
}

async function sendEdit(job, cue, edit) {
  await postJson(`/api/jobs/${job.id}/cues/${cue.index}`, edit);
  const row = $(`#cue-${cue.index}`);
  if (row) { row.classList.add("busy"); $(".advice", row).textContent = t("redoing"); $("button.regenerate", row).disabled = true; }
  follow(job.id);
}

async function regenerate(job, cue, row, shown) {
  // only what the editor changed is sent: the rest of the line stays as it was made
  const edit = {};
  const text = $("textarea.text", row).value;
  if (text.trim() !== cue.text.trim()) edit.text = text;
  const emotion = $("select.emotion", row).value;
  const intensity = $("input.intensity", row).value;
  if (emotion && (emotion !== shown.emotion || intensity !== shown.intensity)) { edit.emotion = emotion; edit.intensity = Number(intensity); }
  const description = $("input.emotion-text", row).value.trim();
  if (description && description !== shown.emotion_text) edit.emotion_text = description;
  const speaker = $("select.speaker-choice", row).value;
  if (speaker && speaker !== shown.speaker) edit.speaker = speaker;
  if (!Object.keys(edit).length && emotion) { edit.emotion = emotion; edit.intensity = Number(intensity); }  // another take, same direction
  $(".error", row).textContent = "";
  $("button.regenerate", row).disabled = true;
  try {
    await sendEdit(job, cue, edit);
  } catch (error) {
    $(".error", row).textContent = error.message;
    $("button.regenerate", row).disabled = false;
  }
}

// -- start -------------------------------------------------------------------------------------------------
function route() {
  const id = location.hash.replace(/^#/, "");
  if (id) openJob(id).catch((error) => { $("#job").hidden = false; $("#job-error").textContent = error.message; });
  else { $("#job").hidden = true; current.id = null; }
}

translatePage();
emotionOptions($("#try-form select[name=emotion]"));
showValue($("#try-form input[name=intensity]"));
$("#try-form").addEventListener("submit", tryLine);
$("#upload-form").addEventListener("submit", upload);
$("#nav-jobs").addEventListener("click", (event) => { event.preventDefault(); location.hash = ""; });
window.addEventListener("hashchange", route);
refreshJobs().catch((error) => { $("#upload-error").textContent = error.message; });
refreshVoices().catch(() => {});
setInterval(() => { if (activeJobs) refreshJobs().catch(() => {}); }, 3000);  // the list follows jobs that are not open too
route();
