/// <reference lib="dom" />
/**
 * The page's few DOM helpers: look an element up by id, make an HTML or SVG element with its
 * attributes and text, and put a card behind an SVG label.
 * @module
 */

const SVG = "http://www.w3.org/2000/svg";

/** Attribute values; numbers are written as the browser writes them. */
export type Attrs = Record<string, string | number>;

/** The page's element with this id (page.html has it; dashboard_page_test.ts holds them equal). */
export function $(id: string): HTMLElement {
  const e = document.getElementById(id);
  if (!e) throw new Error(`no #${id} in the page`);
  return e;
}

/** The first element `selector` matches in the page. */
export function query(selector: string): HTMLElement {
  const e = document.querySelector<HTMLElement>(selector);
  if (!e) throw new Error(`no ${selector} in the page`);
  return e;
}

// The text is what the document said, maybe not a string: textContent writes it as the browser
// writes any value (null as nothing).
function set<E extends Element>(e: E, attrs: Attrs | undefined, text: unknown): E {
  for (const k in attrs || {}) e.setAttribute(k, String(attrs![k]));
  if (text !== undefined) e.textContent = text as string | null;
  return e;
}

/** An HTML element with these attributes and text. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs,
  text?: unknown,
): HTMLElementTagNameMap[K] {
  return set(document.createElement(tag), attrs, text);
}

/** An SVG element with these attributes and text. */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs?: Attrs,
  text?: unknown,
): SVGElementTagNameMap[K] {
  return set(document.createElementNS(SVG, tag), attrs, text);
}

/**
 * A card behind a label keeps it off the lines; sized once the text is laid out (text cannot be
 * measured while the graph is hidden, so it is drawn again when shown).
 */
export function card(label: SVGGElement): void {
  const box = label.getBBox();
  if (box.width > 0) {
    label.insertBefore(
      svg("rect", {
        class: "card",
        x: box.x - 6,
        y: box.y - 3,
        width: box.width + 12,
        height: box.height + 6,
        rx: 5,
      }),
      label.firstChild,
    );
  }
}
