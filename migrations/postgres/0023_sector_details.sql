-- What an assistant's sector needs to know (a restaurant's covers, a salon's services and
-- their durations, a craftsman's emergency policy...), as JSON tagged with the sector; null
-- when not given.
ALTER TABLE assistants ADD COLUMN sector_details TEXT;
