import { z } from 'zod';
import { ldapSettingsSchema } from './passdb/ldap-settings.js';
import { listPassdbDrivers } from './passdb/registry.js';
import { oauth2SettingsSchema } from './passdb/oauth2-settings.js';
import { sqlSettingsSchema } from './passdb/sql-settings.js';

/*
 * The configuration of one passdb, with Dovecot's names so a passdb { } block
 * translates line by line. config/ composes this into the whole file's schema.
 */

/** Dovecot's result_success / result_failure / result_internalfail values. */
export const resultRuleSchema = z.enum(['return', 'return-ok', 'return-fail', 'continue', 'continue-ok', 'continue-fail']);
export type ResultRule = z.infer<typeof resultRuleSchema>;

// YAML 1.2 reads `yes` as a string; accept Dovecot's spellings as well as booleans.
const yesNo = z.union([z.boolean(), z.enum(['yes', 'no', 'y', 'n', 'true', 'false'])])
  .transform((v) => v === true || v === 'yes' || v === 'y' || v === 'true');

export const passdbSpecSchema = z
  .object({
    driver: z
      .string()
      // Read at parse time: drivers registered by the composition root (imap) count.
      .refine((d) => listPassdbDrivers().includes(d), {
        error: () => `unknown passdb driver; known: ${listPassdbDrivers().join(', ')}`,
      })
      .describe('Passdb driver: one of the drivers listed under "Drivers" below.'),
    args: z
      .string()
      .default('')
      .describe('Driver arguments as in Dovecot. passwd-file: "[scheme=X] [username_format=%u] /path/%d"; static: "key=value ..." fields.'),
    default_fields: z
      .string()
      .default('')
      .describe('Fields ("key=value ...", with %variables) used when the passdb does not return them.'),
    override_fields: z
      .string()
      .default('')
      .describe('Fields ("key=value ...", with %variables) that replace what the passdb returns.'),
    ldap: ldapSettingsSchema
      .optional()
      .describe('ldap driver: the settings of a dovecot-ldap.conf.ext, inline (instead of args naming the file).'),
    oauth2: oauth2SettingsSchema
      .optional()
      .describe('oauth2 driver: the settings of a dovecot-oauth2.conf.ext, inline (instead of args naming the file): introspection_url, introspection_mode, username_attribute, active_attribute, ...'),
    sql: sqlSettingsSchema
      .optional()
      .describe('sql driver: the settings of a dovecot-sql.conf.ext, inline (instead of args naming the file).'),
    name: z.string().min(1).optional().describe('Label for logs; defaults to the driver and its args.'),
    deny: yesNo.default(false).describe('A user found in this passdb is refused (Dovecot deny=yes).'),
    result_success: resultRuleSchema.default('return-ok').describe('What a successful lookup does to the chain.'),
    result_failure: resultRuleSchema.default('continue').describe('What an unknown user or wrong password does to the chain.'),
    result_internalfail: resultRuleSchema
      .default('continue')
      .describe('What a temporary failure does; with no later success the login fails temporarily.'),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.ldap !== undefined && spec.driver !== 'ldap') {
      ctx.addIssue({ code: 'custom', path: ['ldap'], message: 'ldap: settings belong to driver ldap' });
    }
    if (spec.driver === 'ldap' && (spec.ldap === undefined) === (spec.args.trim() === '')) {
      ctx.addIssue({ code: 'custom', path: ['ldap'], message: 'driver ldap needs either ldap: settings or args naming a dovecot-ldap.conf.ext' });
    }
    if (spec.sql !== undefined && spec.driver !== 'sql') {
      ctx.addIssue({ code: 'custom', path: ['sql'], message: 'sql: settings belong to driver sql' });
    }
    if (spec.oauth2 !== undefined && spec.driver !== 'oauth2') {
      ctx.addIssue({ code: 'custom', path: ['oauth2'], message: 'oauth2: settings belong to driver oauth2' });
    }
    if (spec.driver === 'oauth2' && (spec.oauth2 === undefined) === (spec.args.trim() === '')) {
      ctx.addIssue({ code: 'custom', path: ['oauth2'], message: 'driver oauth2 needs either oauth2: settings or args naming a dovecot-oauth2.conf.ext' });
    }
    if (spec.driver === 'sql' && (spec.sql === undefined) === (spec.args.trim() === '')) {
      ctx.addIssue({ code: 'custom', path: ['sql'], message: 'driver sql needs either sql: settings or args naming a dovecot-sql.conf.ext' });
    }
  });

/** A passdb spec after defaults (what drivers receive). */
export type PassdbSpec = z.output<typeof passdbSpecSchema>;
/** A passdb spec as written in the config file. */
export type PassdbSpecInput = z.input<typeof passdbSpecSchema>;

export const passdbListSchema = z.array(passdbSpecSchema).min(1).describe('The passdb chain, tried in order.');

/** Every SASL mechanism postern implements (auth/sasl), as auth.mechanisms accepts them. */
export const SASL_MECHANISM_NAMES = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'XOAUTH2', 'OAUTHBEARER', 'EXTERNAL'] as const;

/** One entry of auth.mechanisms, upper case as IMAP advertises it. */
export const saslMechanismSchema = z.enum(SASL_MECHANISM_NAMES);

