// Run-time failures as coded problems: an error class a user can meet declares its code from the message table
// (`readonly code = "ALN7001"`, band ALN7xxx; test/failures.test.ts keeps classes and table in step), and whoever
// shows the failure writes `error[ALN7001]: <the error's message>`, so that `alignc explain ALN7001` says more.

/** The table code an error carries (ALN7xxx failures, ALN6xxx input problems), if any. */
export function failureCode(e: unknown): string | undefined {
  const code = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
  return typeof code === "string" && /^ALN\d{4}$/.test(code) ? code : undefined;
}

/** `error[CODE]: message`, or `error: message` for an error without a code. */
export function failureLine(e: unknown, message = e instanceof Error ? e.message : String(e)): string {
  const code = failureCode(e);
  return code ? `error[${code}]: ${message}` : `error: ${message}`;
}
