# server/: see DESIGN.md (module table). Filled by the module's sources.
