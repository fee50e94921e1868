// Types of layers.js (the folder layering table, plain JS so that eslint.config.js can load it).
export declare const LAYERS: readonly (readonly string[])[];
export declare const APART: Readonly<Record<string, readonly string[]>>;
export declare const EXCEPTIONS: readonly (readonly [string, string])[];
export declare function bannedFor(entry: string): string[];
export declare function entries(): { entry: string; files: string[] }[];
