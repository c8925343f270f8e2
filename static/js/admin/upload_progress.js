// The video form in the admin: a chosen file is uploaded in parts before the form is sent
// (videos/admin_upload.py, videos/uploads.py), with a progress bar. A part whose connection drops
// is sent again, after a pause that grows, and only the parts not yet stored are ever sent: the
// upload resumes where it stopped, after a reload too (the upload's id is kept in localStorage
// for the same file: name, size, date). Once every part is stored the form is submitted with the
// upload's id in place of the file. Without JavaScript the form submits the file as usual.
(function () {
  "use strict";

  const RETRIES = 8;
  const STORE = "watchpoint-upload:";

  function csrfToken(form) {
    const input = form.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  function uploadBase() {
    // /admin/videos/video/add/ or /admin/videos/video/<id>/change/ -> /admin/videos/video/upload/
    const here = window.location.pathname;
    return here.slice(0, here.indexOf("/video/") + "/video/".length) + "upload/";
  }

  function progressBox(form) {
    let box = form.querySelector("[data-upload-progress]");
    if (!box) {
      box = document.createElement("div");
      box.dataset.uploadProgress = "";
      box.className = "wp-upload-progress";
      box.setAttribute("role", "status");
      box.innerHTML = '<progress max="100" value="0"></progress> <span>Uploading… 0 %</span>';
      const submitRow = form.querySelector(".submit-row") || form.lastElementChild;
      submitRow.parentNode.insertBefore(box, submitRow);
    }
    return box;
  }

  class Refused extends Error {}

  function request(method, url, form, body, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      if (url.startsWith("/")) xhr.setRequestHeader("X-CSRFToken", csrfToken(form));
      if (typeof body === "string") xhr.setRequestHeader("Content-Type", "application/json");
      if (onProgress) xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded));
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(xhr.responseText ? JSON.parse(xhr.responseText) : {});
          return;
        }
        let message = `The server answered ${xhr.status}.`;
        try {
          message = JSON.parse(xhr.responseText).error || message;
        } catch (_) {
          /* not JSON (a presigned store's XML error): keep the status */
        }
        // 4xx are the server's word (too large, not a video...); 5xx and 409 may pass.
        const final = xhr.status >= 400 && xhr.status < 500 && xhr.status !== 409 && xhr.status !== 408;
        reject(final ? new Refused(message) : new Error(message));
      });
      xhr.addEventListener("error", () => reject(new Error("connection lost")));
      xhr.addEventListener("timeout", () => reject(new Error("connection timed out")));
      xhr.send(body === undefined ? null : body);
    });
  }

  async function patiently(what, label, attempt) {
    for (let tries = 0; ; tries++) {
      try {
        return await attempt();
      } catch (error) {
        if (error instanceof Refused || tries >= RETRIES) throw error;
        const wait = Math.min(30, 2 ** tries);
        label.textContent = `${what}: ${error.message}; trying again in ${wait} s…`;
        await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      }
    }
  }

  async function upload(form, file, bar, label) {
    const key = STORE + [file.name, file.size, file.lastModified].join("|");
    let state = null;
    const known = window.localStorage.getItem(key);
    if (known) {
      state = await request("GET", known, form).catch(() => null);
    }
    if (!state) {
      const body = JSON.stringify({ filename: file.name, size: file.size });
      state = await patiently("Starting", label, () => request("POST", uploadBase(), form, body));
      window.localStorage.setItem(key, state.url);
    }
    const stored = new Set(state.stored);
    let done = 0;
    for (const n of stored) done += Math.min(state.part_size, state.size - (n - 1) * state.part_size);
    const show = (extra) => {
      const percent = Math.floor(((done + extra) / state.size) * 100);
      bar.value = percent;
      label.textContent = `Uploading… ${percent} %`;
    };
    show(0);
    for (let n = 1; n <= state.parts; n++) {
      if (stored.has(n)) continue;
      const start = (n - 1) * state.part_size;
      const blob = file.slice(start, Math.min(file.size, start + state.part_size));
      await patiently(`Part ${n}`, label, async () => {
        const target = await request("GET", `${state.url}part/${n}/`, form);
        await request("PUT", target.url, form, blob, show);
      });
      done += blob.size;
      show(0);
    }
    label.textContent = "Uploaded; checking the parts…";
    await patiently("Finishing", label, () => request("POST", `${state.url}complete/`, form, ""));
    window.localStorage.removeItem(key);
    return state.id;
  }

  async function send(form, submitter, input) {
    const box = progressBox(form);
    const bar = box.querySelector("progress");
    const label = box.querySelector("span");
    const buttons = form.querySelectorAll('[type="submit"]');
    buttons.forEach((button) => (button.disabled = true));
    try {
      const id = await upload(form, input.files[0], bar, label);
      form.querySelector('input[name="upload"]').value = id;
      input.value = "";
      if (submitter && submitter.name) {
        const pressed = document.createElement("input");
        pressed.type = "hidden";
        pressed.name = submitter.name;
        pressed.value = submitter.value;
        form.appendChild(pressed);
      }
      label.textContent = "Uploaded; saving…";
      form.submit();
    } catch (error) {
      box.classList.add("errornote");
      label.textContent =
        error instanceof Refused
          ? `The upload was refused: ${error.message}`
          : `The upload stopped (${error.message}). Press Save again to resume where it stopped.`;
      buttons.forEach((button) => (button.disabled = false));
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "video_form") return;
    const input = form.querySelector('input[type="file"][name="source"]');
    if (!input || !input.files || !input.files.length || !form.querySelector('input[name="upload"]')) return;
    event.preventDefault();
    send(form, event.submitter, input);
  });
})();
