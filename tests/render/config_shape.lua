-- Runs a rendered Prosody config in a sandbox and prints what it sets, one line per leaf:
--
--   <section> <key path>\t<value>
--
-- The section is "global" or the n-th VirtualHost or Component (so host names do not matter);
-- table items are written [] (lists of any length look alike); strings are %q-quoted. Calls
-- of VirtualHost, Component and Include print their name. A config that does anything else
-- (calls os.execute, reads an undefined function) fails with the Lua error. Used by
-- hostile.py to compare a render with hostile values against a clean one.
--
--   lua5.4 config_shape.lua FILE
local file = assert(arg[1], "usage: lua5.4 config_shape.lua FILE")
local section = "global"
local sections = 0
local lines = {}

local function emit(path, value)
    -- %q writes a line break as a backslash and the line break itself: keep one line.
    local shown = type(value) == "string" and string.format("%q", value):gsub("\\\n", "\\n")
        or tostring(value)
    lines[#lines + 1] = section .. " " .. path .. "\t" .. shown
end

local function walk(path, value, depth)
    if type(value) ~= "table" then
        emit(path, value)
        return
    end
    emit(path, "{}")
    if depth > 8 then
        return
    end
    for k, item in pairs(value) do
        walk(path .. (math.type(k) == "integer" and "[]" or "." .. tostring(k)), item, depth + 1)
    end
end

local settings = {}
local function starts(kind)
    return function(name)
        sections = sections + 1
        section = kind .. "#" .. sections
        lines[#lines + 1] = "call " .. kind
        -- Component "name" "module": the second string is a call of what this returns.
        return function() end
    end
end
settings.VirtualHost = starts("VirtualHost")
settings.Component = starts("Component")
settings.Include = function() lines[#lines + 1] = "call Include" end

local env = setmetatable({}, {
    __index = function(_, k) return settings[k] end,
    __newindex = function(_, k, v)
        settings[k] = v
        walk(k, v, 0)
    end,
})

local chunk, err = loadfile(file, "t", env)
if not chunk then
    io.stderr:write(err, "\n")
    os.exit(1)
end
local ok, run_err = pcall(chunk)
if not ok then
    io.stderr:write(tostring(run_err), "\n")
    os.exit(1)
end
io.write(table.concat(lines, "\n"), "\n")
