-- Argo CD resource actions for every kind of live-snapshot-operator: which are offered for an
-- object. Pause while running, resume while paused; reconcile now unless paused (a paused object
-- makes no upstream call, so a reconcile would change nothing).
local actions = {}
local annotations = {}
if obj.metadata ~= nil and obj.metadata.annotations ~= nil then
  annotations = obj.metadata.annotations
end
local paused = annotations["live.snapshot.dev/paused"] == "true"
actions["reconcile-now"] = { ["disabled"] = paused, ["iconClass"] = "fa fa-fw fa-sync" }
actions["pause"] = { ["disabled"] = paused, ["iconClass"] = "fa fa-fw fa-pause-circle" }
actions["resume"] = { ["disabled"] = not paused, ["iconClass"] = "fa fa-fw fa-play-circle" }
return actions
