/** What the command reader yields. Strings stay bytes: passwords need not be UTF-8. */
export type ImapValue =
  | { type: 'atom'; value: string }
  | { type: 'string'; value: Buffer; literal: boolean }
  /** `atom` keeps the spelling: in an astring position "nil" is a user name (Dovecot keeps it too). */
  | { type: 'nil'; atom: string }
  | { type: 'list'; items: ImapValue[] };

export interface ImapCommand {
  tag: string;
  /** Upper-cased. */
  name: string;
  args: ImapValue[];
}

/** RFC 3501 §9 `astring = 1*ASTRING-CHAR / string`; NIL counts as the atom it is spelled as. */
export function asAString(v: ImapValue | undefined): Buffer | undefined {
  switch (v?.type) {
    case 'atom': return Buffer.from(v.value, 'latin1');
    case 'string': return v.value;
    case 'nil': return Buffer.from(v.atom, 'latin1');
    default: return undefined;
  }
}

/** RFC 3501 §9 `nstring = string / nil`: null for NIL, undefined when the value is neither. */
export function asNString(v: ImapValue | undefined): Buffer | null | undefined {
  switch (v?.type) {
    case 'string': return v.value;
    case 'nil': return null;
    default: return undefined;
  }
}

/** RFC 3501 §9 `string = quoted / literal`. */
export function asString(v: ImapValue | undefined): Buffer | undefined {
  return v?.type === 'string' ? v.value : undefined;
}

export function asAtom(v: ImapValue | undefined): string | undefined {
  return v?.type === 'atom' ? v.value : undefined;
}
