-- Resumes a paused object: the annotation goes, and the operator reconciles it again.
if obj.metadata.annotations ~= nil then
  obj.metadata.annotations["live.snapshot.dev/paused"] = nil
end
return obj
