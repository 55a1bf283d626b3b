export * from "./BangerError.js";
export * from "./codes.js";
