// Sequence diagram for Orchestra: mermaid renders the stored text (or the text Orchestra generated
// from the imported model); message k of the diagram is graph node msg_k, so a scenario's messages and
// step statuses are marked by index. When the stored text does not render, or renders a different
// number of messages than the import found, the generated text is drawn instead.
import React, { useEffect, useRef, useState } from "react";

const STYLE_ID = "orchestra-sequence-style";
const CSS = `
.orchestra-sequence svg { max-width: 100%; height: auto; }
.orchestra-sequence .o-path { stroke: #3e63dd !important; stroke-width: 3px !important; }
.orchestra-sequence text.o-path { fill: #3e63dd !important; stroke: none !important; font-weight: 700; }
.orchestra-sequence .o-msg-dim { opacity: 0.35; }
.orchestra-sequence .o-focus { stroke: #e5484d !important; stroke-width: 4px !important; }
.orchestra-sequence text.o-focus { fill: #e5484d !important; stroke: none !important; font-weight: 700; }
.orchestra-sequence .o-status-passed { stroke: #18794e !important; stroke-width: 3px !important; }
.orchestra-sequence text.o-status-passed { fill: #18794e !important; stroke: none !important; }
.orchestra-sequence .o-status-failed { stroke: #cd2b31 !important; stroke-width: 3px !important; }
.orchestra-sequence text.o-status-failed { fill: #cd2b31 !important; stroke: none !important; font-weight: 700; }
.orchestra-sequence .o-status-flaky { stroke: #ad5700 !important; stroke-width: 3px !important; }
.orchestra-sequence text.o-status-flaky { fill: #ad5700 !important; stroke: none !important; }
.orchestra-sequence .o-status-skipped { stroke: #7e868c !important; stroke-dasharray: 4 3; }
.orchestra-sequence text.o-status-skipped { fill: #7e868c !important; stroke: none !important; }
`;

let counter = 0;
let mermaidPromise = null;

function loadMermaid() {
  if (!mermaidPromise) {
    mermaidPromise = import("mermaid").then((module) => {
      const mermaid = module.default;
      // strict: labels are sanitised and click handlers are off (the text is user content)
      mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "default" });
      return mermaid;
    });
  }
  return mermaidPromise;
}

function ensureStyle() {
  if (typeof document === "undefined" || document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  document.head.appendChild(style);
}

function messageParts(root) {
  // mermaid draws each message as a label (text.messageText) and a line or a self-loop path
  // (.messageLine0 / .messageLine1), both in document order.
  const texts = Array.from(root.querySelectorAll("text.messageText"));
  const lines = Array.from(root.querySelectorAll(".messageLine0, .messageLine1"));
  return texts.map((text, i) => [text, lines[i]].filter(Boolean));
}

async function renderText(mermaid, text) {
  counter += 1;
  const id = `orchestra-seq-${counter}`;
  await mermaid.parse(text);
  const { svg } = await mermaid.render(id, text);
  return svg;
}

export function SequenceDiagram(props) {
  const { ref: outerRef, text, fallback, messages, markers, labels, onRendered, onFailed, ...rest } = props;
  const container = useRef(null);
  const [drawn, setDrawn] = useState(0);

  const setContainer = (node) => {
    container.current = node;
    if (typeof outerRef === "function") outerRef(node);
    else if (outerRef && typeof outerRef === "object") outerRef.current = node;
  };

  useEffect(() => {
    ensureStyle();
    let cancelled = false;
    (async () => {
      const target = container.current;
      if (!target || (!text && !fallback)) return;
      const expected = Array.isArray(messages) ? messages.length : 0;
      let source = "stored";
      let svg = null;
      let problem = "";
      try {
        const mermaid = await loadMermaid();
        if (text) {
          try {
            svg = await renderText(mermaid, text);
          } catch (err) {
            problem = String((err && err.message) || err);
          }
        }
        if (svg) {
          const probe = document.createElement("div");
          probe.innerHTML = svg;
          if (expected && messageParts(probe).length !== expected) svg = null;
        }
        if (!svg && fallback) {
          source = "generated";
          svg = await renderText(mermaid, fallback);
        }
        if (cancelled || !container.current) return;
        if (!svg) throw new Error(problem || "nothing to draw");
        target.innerHTML = svg;
        const parts = messageParts(target);
        parts.forEach((elements, i) => {
          const nodeId = (messages && messages[i]) || `msg_${i + 1}`;
          const title = (labels && labels[nodeId]) || "";
          for (const el of elements) {
            el.setAttribute("data-node-id", nodeId);
            if (el.tagName.toLowerCase() === "text") {
              const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
              t.textContent = title ? `${title} (${nodeId})` : nodeId;
              el.appendChild(t);
            }
          }
        });
        target.dataset.rendered = "true";
        target.dataset.source = source;
        target.dataset.messages = String(parts.length);
        setDrawn((n) => n + 1);
        if (onRendered) onRendered({ source, messages: parts.length, problem });
      } catch (err) {
        if (cancelled) return;
        target.dataset.rendered = "failed";
        if (onFailed) onFailed(String((err && err.message) || err));
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [text, fallback]);

  useEffect(() => {
    const target = container.current;
    if (!target || !drawn) return;
    const wanted = markers || {};
    const any = Object.keys(wanted).length > 0;
    target.querySelectorAll("[data-node-id]").forEach((el) => {
      for (const cls of Array.from(el.classList)) {
        if (cls.startsWith("o-")) el.classList.remove(cls);
      }
      const classes = wanted[el.getAttribute("data-node-id")];
      if (classes && classes.length) {
        for (const cls of classes) el.classList.add(cls);
      } else if (any) {
        el.classList.add("o-msg-dim");
      }
    });
  }, [markers, drawn]);

  return (
    <div
      ref={setContainer}
      className="orchestra-sequence"
      role="img"
      aria-label="Sequence diagram"
      style={{ width: "100%", overflowX: "auto", border: "1px solid #d7dbdf", borderRadius: "8px", background: "#fff", padding: "8px" }}
      {...rest}
    />
  );
}
