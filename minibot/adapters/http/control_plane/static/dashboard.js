// minibot dashboard: the CSRF header on htmx requests, live lists and the web chat.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  document.body.addEventListener("htmx:configRequest", (ev) => {
    ev.detail.headers["X-CSRF-Token"] = csrf;
  });

  function line(event) {
    const details = Object.entries(event)
      .filter(([k]) => !["id", "kind", "at"].includes(k))
      .map(([k, v]) => k + "=" + v).join(" ");
    return event.at.slice(11, 19) + " " + event.kind + " " + details;
  }

  const feed = document.getElementById("feed");
  if (feed && feed.dataset.live) {
    const source = new EventSource(feed.dataset.live);
    source.onopen = () => { document.body.dataset.live = "open"; };
    const add = (ev) => {
      const li = document.createElement("li");
      li.textContent = line(JSON.parse(ev.data));
      feed.prepend(li);
      while (feed.children.length > 200) feed.lastChild.remove();
    };
    ["message_received", "reply_sent", "reply_failed", "job_fired", "job_completed",
     "job_failed", "job_missed", "job_created", "job_updated", "job_cancelled",
     "service_degraded", "service_recovered"].forEach((k) => source.addEventListener(k, add));
  }

  const chat = document.getElementById("chat");
  const form = document.getElementById("chat-form");
  if (chat && form) {
    const conversation = chat.dataset.conversation;
    const bubble = (cls, text, id) => {
      let div = id ? document.getElementById(id) : null;
      if (!div) {
        div = document.createElement("div");
        div.className = cls;
        if (id) div.id = id;
        div.appendChild(document.createElement("span"));
        chat.appendChild(div);
      }
      div.className = cls;
      div.querySelector(":scope > span").textContent = text;
      chat.scrollTop = chat.scrollHeight;
      return div;
    };
    const source = new EventSource("/api/v1/events?content=1");
    source.onopen = () => { document.body.dataset.live = "open"; };
    source.addEventListener("chat_draft", (ev) => {
      const d = JSON.parse(ev.data);
      if (d.conversation === conversation) bubble("bot draft", d.content, "draft-" + d.turn_id);
    });
    source.addEventListener("chat_reply", (ev) => {
      const d = JSON.parse(ev.data);
      if (d.conversation !== conversation) return;
      chat.querySelectorAll(".draft").forEach((el) => el.remove());
      const div = bubble("bot", d.content, "reply-" + d.message_id);
      // A picture or a voice note minibot made, served by the control plane (only these).
      (d.media || []).forEach((m) => {
        if (div.querySelector("[src='" + m.url + "']")) return;
        const el = document.createElement(m.kind === "voice" ? "audio" : "img");
        if (m.kind === "voice") el.controls = true; else el.className = "reply-image";
        el.src = m.url;
        div.insertBefore(el, div.firstChild);
      });
      if (d.buttons && d.buttons.length && !div.querySelector(".buttons")) {
        const row = document.createElement("div");
        row.className = "buttons";
        d.buttons.forEach((b) => {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "press";
          button.dataset.message = d.message_id;
          button.dataset.action = b.action;
          button.textContent = b.label;
          row.appendChild(button);
        });
        div.appendChild(row);
      }
    });
    // A press goes to the inbox like a typed message; the same button counts once.
    chat.addEventListener("click", async (ev) => {
      const button = ev.target.closest("button.press");
      if (!button) return;
      button.closest(".buttons").querySelectorAll("button").forEach((b) => { b.disabled = true; });
      const response = await fetch("/api/v1/chat/press", {
        method: "POST",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify({message_id: button.dataset.message, action: button.dataset.action}),
      });
      if (!response.ok) bubble("bot failed", "(press not sent: " + response.status + ")");
    });
    // A file (photo, document, audio) or a recording goes up as a multipart form; the
    // server refuses one over [media] max_file_bytes before reading it.
    const messageId = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    const sendFile = async (blob, name, label, fields) => {
      const data = new FormData();
      const input = form.querySelector("[name=text]");
      const caption = input.value.trim();
      input.value = "";
      data.append("message_id", messageId());
      if (caption) data.append("text", caption);
      Object.entries(fields || {}).forEach(([k, v]) => data.append(k, v));
      data.append("file", blob, name);
      bubble("me", label + (caption ? " " + caption : ""));
      const response = await fetch("/api/v1/chat/files", {
        method: "POST", headers: {"X-CSRF-Token": csrf}, body: data,
      });
      if (!response.ok) {
        let reason = String(response.status);
        try { reason = (await response.json()).message || reason; } catch (e) { /* not JSON */ }
        bubble("bot failed", "(not sent: " + reason + ")");
      }
    };
    const picker = document.getElementById("chat-file");
    if (picker) {
      picker.addEventListener("change", async () => {
        const file = picker.files && picker.files[0];
        if (!file) return;
        picker.value = "";
        await sendFile(file, file.name, "📎 " + file.name);
      });
    }
    const record = document.getElementById("chat-record");
    if (record && window.MediaRecorder && navigator.mediaDevices) {
      record.hidden = false;
      let recorder = null;
      let started = 0;
      record.addEventListener("click", async () => {
        if (recorder) { recorder.stop(); return; }
        let stream;
        try {
          stream = await navigator.mediaDevices.getUserMedia({audio: true});
        } catch (e) {
          bubble("bot failed", "(no microphone: " + e.name + ")");
          return;
        }
        const parts = [];
        recorder = new MediaRecorder(stream);
        recorder.ondataavailable = (ev) => { if (ev.data.size) parts.push(ev.data); };
        recorder.onstop = async () => {
          stream.getTracks().forEach((t) => t.stop());
          const type = (recorder.mimeType || "audio/webm").split(";")[0];
          const seconds = (Date.now() - started) / 1000;
          recorder = null;
          record.textContent = "🎙 Record";
          const ext = {"audio/ogg": "ogg", "audio/mp4": "mp4"}[type] || "webm";
          await sendFile(new Blob(parts, {type: type}), "voice." + ext, "🎙 voice message",
            {voice: "1", duration_seconds: seconds.toFixed(1)});
        };
        started = Date.now();
        recorder.start();
        record.textContent = "⏹ Stop";
      });
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const input = form.querySelector("[name=text]");
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      bubble("me", text);
      const id = messageId();
      // A lost answer or a 5xx is sent again with the same id: the inbox answers it once.
      let status = "network error";
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const response = await fetch("/api/v1/chat/messages", {
            method: "POST",
            headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
            body: JSON.stringify({text: text, message_id: id}),
          });
          if (response.ok) return;
          status = response.status;
          if (response.status < 500) break;
        } catch (err) {
          status = "network error";
        }
        await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)));
      }
      bubble("bot failed", "(not sent: " + status + ")");
    });
  }
})();
