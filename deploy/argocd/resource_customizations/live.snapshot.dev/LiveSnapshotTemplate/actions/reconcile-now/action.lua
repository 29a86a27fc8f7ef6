-- Asks the operator to reconcile the object now: it acts once on each new value of
-- live.snapshot.dev/reconcile-requested-at, whatever its resync schedule.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["live.snapshot.dev/reconcile-requested-at"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
