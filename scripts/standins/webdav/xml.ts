/**
 * Just enough XML for WebDAV request bodies: a namespace-aware element tree (names resolved to
 * `{namespace, localName}`, text concatenated) and escaping for the responses the stand-in writes.
 * WebDAV clients send small, well-formed bodies; this reader does not validate beyond that.
 */

export interface XmlElement {
  namespace: string;
  localName: string;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref.startsWith('#x') || ref.startsWith('#X')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    return ENTITIES[ref] ?? whole;
  });
}

const TOKEN = /<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!\[CDATA\[([\s\S]*?)\]\]>|<!DOCTYPE[^>]*>|<(\/?)([^\s/>]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/gy;
const ATTRIBUTE = /([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

interface OpenElement {
  element: XmlElement;
  prefixes: Map<string, string>;
  qualifiedName: string;
}

/** Parses `text` into its root element; throws on mismatched tags or a missing root. */
export function parseXml(text: string): XmlElement {
  const stack: OpenElement[] = [];
  let root: XmlElement | undefined;
  let parsed = 0;
  TOKEN.lastIndex = 0;
  for (let match = TOKEN.exec(text); match; match = TOKEN.exec(text)) {
    parsed = TOKEN.lastIndex;
    const [, cdata, closing, qualifiedName, attributes, selfClosing, chars] = match;
    const parent = stack.at(-1);
    if (chars !== undefined || cdata !== undefined) {
      if (parent) parent.element.text += cdata ?? unescapeXml(chars ?? '');
      continue;
    }
    if (qualifiedName === undefined) continue; // declaration, comment, doctype
    if (closing) {
      if (parent?.qualifiedName !== qualifiedName) throw new Error(`unexpected </${qualifiedName}>`);
      stack.pop();
      continue;
    }
    const prefixes = new Map(parent?.prefixes);
    for (const [, name = '', double, single] of (attributes ?? '').matchAll(ATTRIBUTE)) {
      const value = unescapeXml(double ?? single ?? '');
      if (name === 'xmlns') prefixes.set('', value);
      else if (name.startsWith('xmlns:')) prefixes.set(name.slice(6), value);
    }
    const colon = qualifiedName.indexOf(':');
    const prefix = colon < 0 ? '' : qualifiedName.slice(0, colon);
    const element: XmlElement = {
      namespace: prefixes.get(prefix) ?? '',
      localName: colon < 0 ? qualifiedName : qualifiedName.slice(colon + 1),
      children: [],
      text: '',
    };
    if (parent) parent.element.children.push(element);
    else if (root) throw new Error('more than one root element');
    else root = element;
    if (!selfClosing) stack.push({ element, prefixes, qualifiedName });
  }
  if (parsed < text.length) throw new Error(`malformed XML at offset ${parsed}`);
  if (!root || stack.length > 0) throw new Error('incomplete XML document');
  return root;
}

/** The first child of `element` named `{namespace}localName`, if any. */
export function childElement(element: XmlElement, namespace: string, localName: string): XmlElement | undefined {
  return element.children.find((child) => child.namespace === namespace && child.localName === localName);
}
