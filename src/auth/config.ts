import { z } from 'zod';
import { listPassdbDrivers } from './passdb/registry.js';

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
      .refine((d) => listPassdbDrivers().includes(d), {
        message: `unknown passdb driver; known: ${listPassdbDrivers().join(', ')}`,
      })
      .describe('Passdb driver: static or passwd-file.'),
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
    name: z.string().min(1).optional().describe('Label for logs; defaults to the driver and its args.'),
    deny: yesNo.default(false).describe('A user found in this passdb is refused (Dovecot deny=yes).'),
    result_success: resultRuleSchema.default('return-ok').describe('What a successful lookup does to the chain.'),
    result_failure: resultRuleSchema.default('continue').describe('What an unknown user or wrong password does to the chain.'),
    result_internalfail: resultRuleSchema
      .default('continue')
      .describe('What a temporary failure does; with no later success the login fails temporarily.'),
  })
  .strict();

/** A passdb spec after defaults (what drivers receive). */
export type PassdbSpec = z.output<typeof passdbSpecSchema>;
/** A passdb spec as written in the config file. */
export type PassdbSpecInput = z.input<typeof passdbSpecSchema>;

export const passdbListSchema = z.array(passdbSpecSchema).min(1).describe('The passdb chain, tried in order.');
