/**
 * Dovecot treats a boolean extra field as set by its mere presence (`proxy`, `proxy=y`).
 * postern also reads an explicit `n`, `no`, `false` or `0` as unset, which is what an
 * SQL column returning 'N' means.
 */
export function fieldSet(fields: Readonly<Record<string, string>>, key: string): boolean {
  const v = fields[key];
  if (v === undefined) return false;
  return !/^(n|no|false|0)$/i.test(v.trim());
}
