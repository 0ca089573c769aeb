-- The URL as given (GET), for the bare node:http ceiling; done() prints a WRK_JSON line like the others.
-- done() comes from report.lua, next to this script.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
