-- Rows a retried batch wrote twice before this index existed: the first of each stays.
DELETE FROM `identifications` WHERE `id` NOT IN (SELECT min(`id`) FROM `identifications` GROUP BY `tenant_id`, `at`, `identity`, `action`, `badge_id`);--> statement-breakpoint
DROP INDEX `identifications_tenant_at`;--> statement-breakpoint
CREATE UNIQUE INDEX `identifications_once` ON `identifications` (`tenant_id`,`at`,`identity`,`action`,`badge_id`);
