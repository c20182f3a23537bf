// TypeDoc plugin (typedoc.json): names each entry point's module after the package it documents,
// `@tokenstash/<dir>` for packages/<dir>/src/index.ts and `@tokenstash/<dir>/testing` for its
// testing entry, instead of TypeDoc's path-derived `<dir>/src`.
import { Converter, ReflectionKind } from 'typedoc'

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const mod of context.project.getReflectionsByKind(ReflectionKind.Module)) {
      const m = /^([a-z0-9-]+)\/src(?:\/(testing))?$/.exec(mod.name)
      if (m) mod.name = `@tokenstash/${m[1]}${m[2] ? `/${m[2]}` : ''}`
    }
  })
}
