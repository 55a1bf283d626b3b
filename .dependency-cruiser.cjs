/**
 * Import-cycle check (`npm run lint`): fails on any cycle between modules in src/, type-only imports
 * included (`tsPreCompilationDeps`), since a shared type belongs in a module of its own.
 */

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment:
        "No import cycles (type-only imports too): move what both sides share into a module of its own.",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "\\.test\\.tsx?$" },
  },
};
