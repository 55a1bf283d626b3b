/**
 * The API version this SDK speaks; the same number as the daemon's schema
 * (src/api/schema/daemon.ts). Kept here as a plain constant so importing the
 * SDK does not load zod; a unit test checks that both agree.
 */
export const API_VERSION = 1;
