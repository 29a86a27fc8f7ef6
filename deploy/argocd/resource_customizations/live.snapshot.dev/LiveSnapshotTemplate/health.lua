-- Argo CD health check for every kind of live-snapshot-operator (live.snapshot.dev), for
-- argocd-cm `resource.customizations.health.live.snapshot.dev_<Kind>` (see README, "In a GitOps
-- repo"). Argo CD runs it with gopher-lua (Lua 5.1); tests/e2e/gitops.rs runs it with lua5.1
-- against objects the real operator wrote.
local hs = { status = "Progressing", message = "waiting for the operator to report" }
local function condition(status, kind)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local meta = obj.metadata or {}
local annotations = meta.annotations or {}
if annotations["live.snapshot.dev/paused"] == "true" then
  hs.status = "Suspended"
  hs.message = "reconciliation is paused (live.snapshot.dev/paused)"
  return hs
end

local status = obj.status
if status == nil then
  return hs
end
if meta.generation ~= nil and status.observedGeneration ~= meta.generation then
  hs.message = "waiting for the operator to observe generation " .. tostring(meta.generation)
  return hs
end

local ready = condition(status, "Ready")
local stalled = condition(status, "Stalled")
local reconciling = condition(status, "Reconciling")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end
if ready ~= nil and ready.reason == "Paused" then
  hs.status = "Suspended"
  hs.message = ready.message or ""
  return hs
end
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "") .. ": " .. (stalled.message or "")
  return hs
end
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = (reconciling.reason or "") .. ": " .. (reconciling.message or "")
  return hs
end
if ready ~= nil then
  hs.message = (ready.reason or "") .. ": " .. (ready.message or "")
end
return hs
