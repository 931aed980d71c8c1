CREATE TABLE `sites` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` integer NOT NULL,
	`name` text NOT NULL,
	`grid_limit_a` real,
	`grid_limit_kw` real,
	`phases` integer DEFAULT 3 NOT NULL,
	`voltage_v` real DEFAULT 230 NOT NULL,
	`safety_margin_pct` real DEFAULT 0 NOT NULL,
	`min_current_a` real DEFAULT 6 NOT NULL,
	`failsafe_current_a` real DEFAULT 6 NOT NULL,
	`time_zone` text DEFAULT 'UTC' NOT NULL,
	`schedule` text DEFAULT '[]' NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sites_tenant_name` ON `sites` (`tenant_id`,`name`);--> statement-breakpoint
ALTER TABLE `stations` ADD `site_id` integer REFERENCES sites(id) ON UPDATE no action ON DELETE set null;--> statement-breakpoint
ALTER TABLE `stations` ADD `max_current_a` real DEFAULT 32 NOT NULL;--> statement-breakpoint
ALTER TABLE `stations` ADD `phases` integer DEFAULT 3 NOT NULL;--> statement-breakpoint
ALTER TABLE `stations` ADD `phase` text DEFAULT 'L1' NOT NULL;--> statement-breakpoint
ALTER TABLE `stations` ADD `priority` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `stations` ADD `excluded` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `stations` ADD `uncontrollable` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX `stations_site` ON `stations` (`site_id`);--> statement-breakpoint
ALTER TABLE `tenants` ADD `smart_charging` integer DEFAULT false NOT NULL;