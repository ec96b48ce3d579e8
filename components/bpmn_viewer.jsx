// BPMN viewer for Orchestra: bpmn-js NavigatedViewer (pan by drag, zoom by ctrl+wheel and buttons),
// markers on nodes and flows (scenario path, step status, coverage), names with ids on hover.
// Models without layout (no BPMNDI) arrive with Orchestra's own layout (importers/bpmn_layout.py).
import React, { useEffect, useRef, useState } from "react";
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";

const STYLE_ID = "orchestra-bpmn-style";
const CSS = `
.orchestra-bpmn .djs-element.o-path .djs-visual > :first-child { stroke: #3e63dd !important; stroke-width: 4px !important; }
.orchestra-bpmn .djs-connection.o-path .djs-visual > path { stroke: #3e63dd !important; stroke-width: 4px !important; }
.orchestra-bpmn .djs-element.o-dim { opacity: 0.35; }
.orchestra-bpmn .djs-element.o-focus .djs-visual > :first-child { stroke: #e5484d !important; stroke-width: 5px !important; }
.orchestra-bpmn .djs-shape.o-status-passed .djs-visual > :first-child { fill: #c9f2d5 !important; stroke: #18794e !important; stroke-width: 3px !important; }
.orchestra-bpmn .djs-shape.o-status-flaky .djs-visual > :first-child { fill: #ffe7b3 !important; stroke: #ad5700 !important; stroke-width: 3px !important; }
.orchestra-bpmn .djs-shape.o-status-failed .djs-visual > :first-child { fill: #ffd1d1 !important; stroke: #cd2b31 !important; stroke-width: 3px !important; }
.orchestra-bpmn .djs-shape.o-status-skipped .djs-visual > :first-child { fill: #eceef0 !important; stroke: #7e868c !important; stroke-dasharray: 4 3; }
.orchestra-bpmn .djs-shape.o-status-running .djs-visual > :first-child { fill: #d5e6ff !important; stroke: #0d74ce !important; stroke-width: 3px !important; }
.orchestra-bpmn .djs-shape.o-status-pending .djs-visual > :first-child { stroke: #7e868c !important; stroke-dasharray: 2 2; }
.orchestra-bpmn .djs-connection.o-covered .djs-visual > path { stroke: #18794e !important; stroke-width: 3px !important; }
.orchestra-bpmn .djs-connection.o-uncovered .djs-visual > path { stroke: #cd2b31 !important; stroke-dasharray: 6 4; }
.orchestra-bpmn-toolbar { position: absolute; top: 8px; right: 8px; display: flex; gap: 4px; z-index: 2; }
.orchestra-bpmn-toolbar button { min-width: 2rem; height: 2rem; border: 1px solid #c1c8cd; background: #fff; border-radius: 6px; cursor: pointer; font-size: 14px; }
.orchestra-bpmn-toolbar button:focus-visible { outline: 2px solid #3e63dd; outline-offset: 1px; }
`;

function ensureStyle() {
  if (typeof document === "undefined" || document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  document.head.appendChild(style);
}

function applyMarkers(viewer, previous, markers) {
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  for (const [id, classes] of Object.entries(previous || {})) {
    if (!registry.get(id)) continue;
    for (const cls of classes) canvas.removeMarker(id, cls);
  }
  const applied = {};
  for (const [id, classes] of Object.entries(markers || {})) {
    if (!registry.get(id)) continue;
    const list = Array.isArray(classes) ? classes : String(classes).split(" ").filter(Boolean);
    for (const cls of list) canvas.addMarker(id, cls);
    applied[id] = list;
  }
  return applied;
}

function addTitles(viewer, labels) {
  // Native tooltips: "name (id)" on every shape and flow, the id alone when it has no name.
  const registry = viewer.get("elementRegistry");
  registry.forEach((element) => {
    if (element.type === "label" || !element.businessObject) return;
    const gfx = registry.getGraphics(element);
    if (!gfx || gfx.querySelector(":scope > title")) return;
    const id = element.id;
    const name = (labels && labels[id]) || element.businessObject.name || "";
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = name ? `${name} (${id})` : id;
    gfx.insertBefore(title, gfx.firstChild);
  });
}

export function BpmnViewer(props) {
  // React 19: Reflex hands `ref` over as a plain prop when the component has an id; keep it off the
  // container props and merge it with our own ref, or the container stays empty.
  const {
    ref: outerRef,
    xml,
    markers,
    labels,
    focus,
    height,
    onElementClick,
    onRendered,
    onFailed,
    ...rest
  } = props;
  const container = useRef(null);
  const viewerRef = useRef(null);
  const applied = useRef({});
  const [ready, setReady] = useState(0);

  const setContainer = (node) => {
    container.current = node;
    if (typeof outerRef === "function") outerRef(node);
    else if (outerRef && typeof outerRef === "object") outerRef.current = node;
  };

  useEffect(() => {
    ensureStyle();
    if (!container.current || !xml) return undefined;
    let cancelled = false;
    const viewer = new NavigatedViewer({ container: container.current });
    viewerRef.current = viewer;
    applied.current = {};
    (async () => {
      try {
        const result = await viewer.importXML(xml);
        // StrictMode mounts twice in development: a destroyed viewer's import is simply dropped.
        if (cancelled) return;
        viewer.get("canvas").zoom("fit-viewport", "auto");
        addTitles(viewer, labels);
        viewer.get("eventBus").on("element.click", (event) => {
          const element = event.element;
          if (!element || element.type === "label" || element.type === "bpmn:Process") return;
          if (onElementClick) onElementClick(element.id);
        });
        const registry = viewer.get("elementRegistry");
        const shapes = registry.filter((e) => e.type !== "label" && !e.waypoints && !!e.parent).length;
        const connections = registry.filter((e) => !!e.waypoints).length;
        if (container.current) {
          container.current.dataset.rendered = "true";
          container.current.dataset.shapes = String(shapes);
          container.current.dataset.connections = String(connections);
        }
        setReady((n) => n + 1);
        if (onRendered)
          onRendered({ shapes, connections, warnings: (result.warnings || []).length });
      } catch (err) {
        if (cancelled) return;
        if (container.current) container.current.dataset.rendered = "failed";
        if (onFailed) onFailed(String((err && err.message) || err));
      }
    })();
    return () => {
      cancelled = true;
      viewerRef.current = null;
      viewer.destroy();
    };
  }, [xml]);

  useEffect(() => {
    const viewer = viewerRef.current;
    if (!viewer || !ready) return;
    const wanted = { ...(markers || {}) };
    if (focus) wanted[focus] = [...(wanted[focus] || []), "o-focus"];
    applied.current = applyMarkers(viewer, applied.current, wanted);
  }, [markers, focus, ready]);

  const zoom = (how) => {
    const viewer = viewerRef.current;
    if (!viewer) return;
    const canvas = viewer.get("canvas");
    if (how === "fit") canvas.zoom("fit-viewport", "auto");
    else canvas.zoom(canvas.zoom() * (how === "in" ? 1.25 : 0.8));
  };
  const pan = (dx, dy) => {
    const viewer = viewerRef.current;
    if (viewer) viewer.get("canvas").scroll({ dx, dy });
  };
  const onKeyDown = (event) => {
    const step = event.shiftKey ? 200 : 60;
    const moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (moves[event.key]) {
      pan(...moves[event.key]);
      event.preventDefault();
    } else if (event.key === "+" || event.key === "=") {
      zoom("in");
      event.preventDefault();
    } else if (event.key === "-") {
      zoom("out");
      event.preventDefault();
    } else if (event.key === "0") {
      zoom("fit");
      event.preventDefault();
    }
  };

  return (
    <div style={{ position: "relative", width: "100%" }} {...rest}>
      <div className="orchestra-bpmn-toolbar" role="toolbar" aria-label="Diagram zoom">
        <button type="button" aria-label="Zoom in" title="Zoom in (+)" onClick={() => zoom("in")}>+</button>
        <button type="button" aria-label="Zoom out" title="Zoom out (-)" onClick={() => zoom("out")}>−</button>
        <button type="button" aria-label="Fit to view" title="Fit to view (0)" onClick={() => zoom("fit")}>⤢</button>
      </div>
      <div
        ref={setContainer}
        className="orchestra-bpmn"
        tabIndex={0}
        role="img"
        aria-label="Process diagram: drag to pan, arrow keys to move, + and - to zoom, 0 to fit"
        onKeyDown={onKeyDown}
        style={{ width: "100%", height: height || "480px", border: "1px solid #d7dbdf", borderRadius: "8px", background: "#fff" }}
      />
    </div>
  );
}
