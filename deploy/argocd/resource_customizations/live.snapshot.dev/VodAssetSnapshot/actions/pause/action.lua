-- Pauses the object: the operator makes no upstream call for it until it is resumed.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["live.snapshot.dev/paused"] = "true"
return obj
