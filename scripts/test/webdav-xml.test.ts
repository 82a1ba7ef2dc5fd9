import { describe, expect, it } from 'vitest';
import { childElement, escapeXml, parseXml } from '../standins/webdav/xml.js';

describe('parseXml', () => {
  it('resolves prefixes and default namespaces per element scope', () => {
    const root = parseXml(`<?xml version="1.0"?>
      <d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">
        <!-- a comment -->
        <d:prop><oc:checksums/><size xmlns="urn:x"/><d:getetag></d:getetag></d:prop>
      </d:propfind>`);
    expect(root).toMatchObject({ namespace: 'DAV:', localName: 'propfind' });
    const prop = childElement(root, 'DAV:', 'prop');
    expect(prop?.children.map(({ namespace, localName }) => `{${namespace}}${localName}`)).toEqual([
      '{http://owncloud.org/ns}checksums',
      '{urn:x}size',
      '{DAV:}getetag',
    ]);
  });

  it('unescapes text and keeps CDATA as is', () => {
    const root = parseXml('<a>x &amp; y &#60;&#x3e; <![CDATA[<raw>]]></a>');
    expect(root.text).toBe('x & y <> <raw>');
  });

  it('rejects malformed documents', () => {
    expect(() => parseXml('<a><b></a>')).toThrow();
    expect(() => parseXml('<a>')).toThrow();
    expect(() => parseXml('<a/><b/>')).toThrow();
    expect(() => parseXml('<a/> <')).toThrow();
  });
});

describe('escapeXml', () => {
  it('escapes markup characters', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
  });
});
