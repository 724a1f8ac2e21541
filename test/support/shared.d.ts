export declare const REPO_ROOT: string;
export declare const SHARED_DIR: string;
export declare const FIXTURES_DIR: string;
export declare const RESEARCH_DIR: string;
/** Fails loudly (never skips) when the shared material is missing: tests depend on it. */
export declare function requireShared(path: string): string;
