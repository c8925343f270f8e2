// The video form in the admin: when a file is chosen, the form is sent by XMLHttpRequest so staff
// see a progress bar while the file uploads (a plain submit shows nothing for minutes). The answer
// is what a plain submit would show: the redirect after a save is followed, a page with errors
// replaces this one. Without JavaScript the form submits as usual.
(function () {
  "use strict";

  function fileChosen(form) {
    return Array.from(form.querySelectorAll('input[type="file"][name="source"]')).some(
      (input) => input.files && input.files.length > 0,
    );
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

  function send(form, submitter) {
    const data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    const box = progressBox(form);
    const bar = box.querySelector("progress");
    const label = box.querySelector("span");
    form.querySelectorAll('[type="submit"]').forEach((button) => (button.disabled = true));
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action || window.location.href);
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.floor((event.loaded / event.total) * 100);
      bar.value = percent;
      label.textContent = percent < 100 ? `Uploading… ${percent} %` : "Uploaded; saving…";
    });
    xhr.addEventListener("load", () => {
      if (xhr.responseURL && xhr.responseURL !== window.location.href) {
        window.location.assign(xhr.responseURL);
        return;
      }
      document.open();
      document.write(xhr.responseText);
      document.close();
    });
    xhr.addEventListener("error", () => {
      label.textContent = "The upload stopped (connection lost). Choose the file again to retry.";
      form.querySelectorAll('[type="submit"]').forEach((button) => (button.disabled = false));
    });
    xhr.send(data);
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "video_form" || !fileChosen(form)) return;
    event.preventDefault();
    send(form, event.submitter);
  });
})();
