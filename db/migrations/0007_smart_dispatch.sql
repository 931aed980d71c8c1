CREATE TABLE `charging_profiles` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` integer NOT NULL,
	`identity` text NOT NULL,
	`owner` text NOT NULL,
	`profile_id` integer NOT NULL,
	`purpose` text NOT NULL,
	`stack_level` integer NOT NULL,
	`evse_id` integer NOT NULL,
	`transaction_id` text,
	`profile` text NOT NULL,
	`limit_a` real,
	`installed_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `charging_profiles_key` ON `charging_profiles` (`tenant_id`,`identity`,`owner`,`profile_id`);--> statement-breakpoint
CREATE TABLE `limit_changes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`identity` text NOT NULL,
	`transaction_id` text,
	`purpose` text NOT NULL,
	`from_a` real,
	`to_a` real NOT NULL,
	`reason` text NOT NULL,
	`outcome` text NOT NULL,
	`at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `limit_changes_site_at` ON `limit_changes` (`site_id`,`at`);--> statement-breakpoint
CREATE TABLE `smart_offers` (
	`tenant_id` integer NOT NULL,
	`identity` text NOT NULL,
	`transaction_id` text NOT NULL,
	`site_id` integer NOT NULL,
	`offer_a` real NOT NULL,
	`reason` text NOT NULL,
	`charging_since` integer,
	`waiting_since` integer,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	PRIMARY KEY(`tenant_id`, `identity`, `transaction_id`),
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `smart_offers_site` ON `smart_offers` (`site_id`);--> statement-breakpoint
ALTER TABLE `stations` ADD `uncontrollable_reason` text;--> statement-breakpoint
ALTER TABLE `stations` ADD `uncontrollable_since` integer;--> statement-breakpoint
ALTER TABLE `tenants` ADD `cpms_charging_policy` text DEFAULT 'forward' NOT NULL;