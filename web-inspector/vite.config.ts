import { defineConfig } from 'vite'

// `base: './'` keeps every asset URL relative, so the same build works under any mount path
// (`/mesh/inspector/`, `/api/mesh/inspector/`, ...) without rebuilding.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
  },
})
