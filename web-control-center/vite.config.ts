import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  worker: { format: "es" },
  build: { outDir: "dist", target: "es2022", chunkSizeWarningLimit: 2048 },
  test: {
    include: ["tests/unit/**/*.test.ts"],
    globalSetup: ["tests/unit/server.setup.ts"],
    testTimeout: 20_000,
  },
});
