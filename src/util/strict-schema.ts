// A tiny strict schema checker for JSON config: unknown keys are errors naming the key; defaults filled in.
import { ConfigError } from '../errors.js';

export type Spec =
  | { t: 'string'; def?: string; nullable?: boolean; oneOf?: readonly string[] }
  | { t: 'int'; def?: number; min?: number; max?: number }
  | { t: 'bool'; def?: boolean }
  | { t: 'keys' }
  | { t: 'strings' }
  | { t: 'num'; def: number; min: number; max: number }
  | { t: 'object'; fields: Record<string, Spec> };

export const str = (def?: string, more: { nullable?: boolean; oneOf?: readonly string[] } = {}): Spec => ({ t: 'string', ...(def === undefined ? {} : { def }), ...more });
export const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER): Spec => ({ t: 'int', def, min, max });
export const obj = (fields: Record<string, Spec>): Spec => ({ t: 'object', fields });

export function fail(path: string, message: string, code: 'E_CONFIG_INVALID' | 'E_CONFIG_UNKNOWN_KEY' = 'E_CONFIG_INVALID'): never {
  throw new ConfigError(code, `config ${path}: ${message}`, { context: { key: path } });
}

export function check(spec: Spec, value: unknown, path: string): unknown {
  switch (spec.t) {
    case 'string':
      if (value === undefined) {
        if (spec.def !== undefined) return spec.def;
        if (spec.nullable) return null;
        fail(path, 'is required');
      }
      if (value === null && spec.nullable) return null;
      if (typeof value !== 'string' || value === '') fail(path, 'must be a non-empty string');
      if (spec.oneOf && !spec.oneOf.includes(value)) fail(path, `must be one of ${spec.oneOf.join(', ')}`);
      return value;
    case 'int':
      if (value === undefined) return spec.def;
      if (typeof value !== 'number' || !Number.isInteger(value)) fail(path, 'must be an integer');
      if (value < (spec.min ?? 0) || value > (spec.max ?? Number.MAX_SAFE_INTEGER)) fail(path, `must be within ${spec.min}..${spec.max}`);
      return value;
    case 'bool':
      if (value === undefined) return spec.def;
      if (typeof value !== 'boolean') fail(path, 'must be true or false');
      return value;
    case 'num':
      if (value === undefined) return spec.def;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < spec.min || value > spec.max) fail(path, `must be a number within ${spec.min}..${spec.max}`);
      return value;
    case 'strings':
      if (value === undefined) return [];
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) fail(path, 'must be a list of non-empty strings');
      return value;
    case 'keys':
      if (value === undefined) return [];
      if (!Array.isArray(value)) fail(path, 'must be a list of {keyid, publicKey}');
      return value.map((k, i) => {
        const p = `${path}[${i}]`;
        if (typeof k !== 'object' || k === null || Array.isArray(k)) fail(p, 'must be an object');
        for (const key of Object.keys(k)) if (key !== 'keyid' && key !== 'publicKey') fail(`${p}.${key}`, 'unknown key', 'E_CONFIG_UNKNOWN_KEY');
        const { keyid, publicKey } = k as Record<string, unknown>;
        if (typeof keyid !== 'string' || typeof publicKey !== 'string') fail(p, 'needs string keyid and publicKey');
        return { keyid, publicKey };
      });
    case 'object': {
      const input = value === undefined ? {} : value;
      if (typeof input !== 'object' || input === null || Array.isArray(input)) fail(path || '(root)', 'must be an object');
      for (const key of Object.keys(input)) {
        if (!(key in spec.fields)) fail(path ? `${path}.${key}` : key, 'unknown key', 'E_CONFIG_UNKNOWN_KEY');
      }
      const out: Record<string, unknown> = {};
      for (const [key, sub] of Object.entries(spec.fields)) {
        out[key] = check(sub, (input as Record<string, unknown>)[key], path ? `${path}.${key}` : key);
      }
      return out;
    }
  }
}

