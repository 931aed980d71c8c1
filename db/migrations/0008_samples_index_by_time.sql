-- meter_samples_once with the time right after the station: inserts append at the end of each station's part of the
-- index, and the index also serves what meter_samples_station_at served (a station's samples over time).
-- Hand-edited: drizzle-kit quotes the coalesce() expressions wrongly (as in 0003).
DROP INDEX `meter_samples_station_at`;--> statement-breakpoint
DROP INDEX `meter_samples_once`;--> statement-breakpoint
CREATE UNIQUE INDEX `meter_samples_once` ON `meter_samples` (`tenant_id`,`identity`,`at`,coalesce(`evse_id`, -1),coalesce(`connector_id`, -1),`measurand`,coalesce(`phase`, ''),coalesce(`location`, ''));
