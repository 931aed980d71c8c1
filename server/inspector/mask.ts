/**
 * What the message inspector hides of a frame before anyone sees it.
 *
 * - Badge ids (personal data): 1.6 `idTag` and `parentIdTag`, 2.0.1 `idToken.idToken` (also in `groupIdToken`) and
 *   `additionalIdToken`, in any message and in either direction (Authorize, Start/StopTransaction, TransactionEvent,
 *   the CPMS's answers, RemoteStart, SendLocalList, ...). Masked unless an admin reveals them.
 * - Secrets, always, even for admins: any `…password…`, `…secret…` or `simPin` field, a VPN `key`, the value of the
 *   1.6 configuration key `AuthorizationKey` (ChangeConfiguration, GetConfiguration) and of the 2.0.1 variable
 *   `BasicAuthPassword` (SetVariables, GetVariables, NotifyReport).
 *
 * A frame that parses is masked field by field (and then shown re-serialized, only when something was masked); a frame
 * that does not (invalid, or truncated by the inspector) is masked by pattern, an unterminated value entirely, and
 * there every configuration value (`value`, `attributeValue`) is masked too: what it belongs to may be cut off.
 */

export const MASK = '****';

/** At least this many characters before a badge keeps its first four: at most half of an id is ever shown. */
const SHOWN_FROM_LENGTH = 8;
const SHOWN = 4;
/** Deeper JSON is masked by pattern (OCPP payloads are a few levels deep). */
const MAX_DEPTH = 32;

const BADGE_KEYS = new Set(['idTag', 'parentIdTag', 'idToken', 'additionalIdToken']);
const SECRET_KEY = /password|secret|^simpin$/i;
export const SECRET_CONFIGURATION_KEY = /^(authorizationkey|basicauthpassword)$/i;

/** "04A1B2C3D4" → "04A1****"; ids shorter than 8 characters → "****". The mask does not tell the id's length. */
export function maskBadge(id: string): string {
  const chars = Array.from(id);
  return (chars.length >= SHOWN_FROM_LENGTH ? chars.slice(0, SHOWN).join('') : '') + MASK;
}

export interface Masked {
  text: string;
  /** Something was masked (the text is then the re-serialized JSON, or the pattern-masked text). */
  masked: boolean;
}

/** A frame's text as the inspector shows it: secrets masked, and badge ids too unless `revealBadges`. */
export function maskFrame(text: string, options: { revealBadges?: boolean } = {}): Masked {
  const reveal = options.revealBadges ?? false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return maskByPattern(text, reveal);
  }
  const result = maskValue(parsed, reveal);
  if (result === TOO_DEEP) return maskByPattern(text, reveal);
  return result ? { text: JSON.stringify(parsed), masked: true } : { text, masked: false };
}

const TOO_DEEP = Symbol('too deep');

/**
 * Masks a parsed JSON value in place; true when something was masked. Exported for the property tests.
 * Returns TOO_DEEP (and may have masked part of it) when it nests deeper than MAX_DEPTH.
 */
export function maskValue(value: unknown, reveal: boolean, depth = 0): boolean | typeof TOO_DEEP {
  if (value === null || typeof value !== 'object') return false;
  if (depth > MAX_DEPTH) return TOO_DEEP;
  let masked = false;
  if (Array.isArray(value)) {
    for (const item of value) {
      const inner = maskValue(item, reveal, depth + 1);
      if (inner === TOO_DEEP) return TOO_DEEP;
      masked ||= inner;
    }
    return masked;
  }
  const object = value as Record<string, unknown>;
  for (const [key, field] of Object.entries(object)) {
    if (typeof field === 'string') {
      if (SECRET_KEY.test(key) || (key === 'key' && 'password' in object)) {
        object[key] = MASK;
        masked = true;
      } else if (!reveal && BADGE_KEYS.has(key)) {
        object[key] = maskBadge(field);
        masked = true;
      }
    } else {
      const inner = maskValue(field, reveal, depth + 1);
      if (inner === TOO_DEEP) return TOO_DEEP;
      masked ||= inner;
    }
  }
  // 1.6 ChangeConfiguration / GetConfiguration: { key: 'AuthorizationKey', value }
  if (isSecretName(object.key) && typeof object.value === 'string') {
    object.value = MASK;
    masked = true;
  }
  // 2.0.1 SetVariables / GetVariables: { variable: { name: 'BasicAuthPassword' }, attributeValue }; NotifyReport:
  // { variable, variableAttribute: [{ value }] }
  const variable = object.variable as { name?: unknown } | null | undefined;
  if (typeof variable === 'object' && variable !== null && isSecretName(variable.name)) {
    if (typeof object.attributeValue === 'string') {
      object.attributeValue = MASK;
      masked = true;
    }
    if (Array.isArray(object.variableAttribute)) {
      for (const attribute of object.variableAttribute as unknown[]) {
        if (typeof attribute === 'object' && attribute !== null && typeof (attribute as { value?: unknown }).value === 'string') {
          (attribute as { value: string }).value = MASK;
          masked = true;
        }
      }
    }
  }
  return masked;
}

function isSecretName(name: unknown): boolean {
  return typeof name === 'string' && SECRET_CONFIGURATION_KEY.test(name);
}

/** A JSON string literal, or one cut off by the end of the text. */
const STRING = String.raw`"(?:[^"\\]|\\.)*(?:"|\\?$)`;
const BADGE_FIELD = new RegExp(String.raw`("(?:idTag|parentIdTag|idToken|additionalIdToken)"\s*:\s*)(${STRING})`, 'g');
const SECRET_FIELD = new RegExp(String.raw`("[^"\\]*(?:password|secret|simpin)[^"\\]*"\s*:\s*)(${STRING})`, 'gi');
/** Configuration values: which key or variable they belong to may come after them, or be cut off. */
const VALUE_FIELD = new RegExp(String.raw`("(?:value|attributeValue)"\s*:\s*)(${STRING})`, 'g');
const VPN_KEY_FIELD = new RegExp(String.raw`("key"\s*:\s*)(${STRING})`, 'g');

/** For text that is not JSON (or was cut off): the same fields, found by pattern. */
export function maskByPattern(text: string, reveal: boolean): Masked {
  let masked = false;
  const replace = (pattern: RegExp, by: (literal: string) => string) => {
    text = text.replace(pattern, (_all, field: string, literal: string) => {
      masked = true;
      return field + by(literal);
    });
  };
  replace(SECRET_FIELD, () => `"${MASK}"`);
  replace(VALUE_FIELD, () => `"${MASK}"`);
  if (text.includes('"vpn"')) replace(VPN_KEY_FIELD, () => `"${MASK}"`);
  if (!reveal) replace(BADGE_FIELD, (literal) => JSON.stringify(maskBadge(badgeOf(literal))));
  return { text, masked };
}

/** The value of a string literal; an unterminated one is masked whole. */
function badgeOf(literal: string): string {
  try {
    const value: unknown = JSON.parse(literal);
    return typeof value === 'string' ? value : '';
  } catch {
    return '';
  }
}
