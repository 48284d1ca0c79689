// alignc's version, part of every execution graph (and so of cache keys through node versions).
export const ALIGNC_VERSION = "0.1.0";
