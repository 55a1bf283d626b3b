export * from "./ids.js";
export * from "./image.js";
export * from "./kernel.js";
export * from "./vm.js";
export * from "./vmm.js";
