CREATE TABLE `certificates` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`tenant_id` integer,
	`station_id` integer,
	`certificate_pem` text,
	`key_sealed` text,
	`csr_pem` text,
	`generated` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`station_id`) REFERENCES `stations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `stations` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` integer NOT NULL,
	`identity` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`password_hash` text,
	`cpms_password_sealed` text,
	`certificate_fingerprint` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `stations_tenant_identity` ON `stations` (`tenant_id`,`identity`);--> statement-breakpoint
ALTER TABLE `tenants` ADD `station_profile` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `tenants` ADD `allow_unknown_stations` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `tenants` ADD `profile1_over_tls` integer DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE `tenants` ADD `organization` text;--> statement-breakpoint
ALTER TABLE `tenants` ADD `cpms_profile` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `tenants` ADD `cpms_auth` text DEFAULT 'passthrough' NOT NULL;--> statement-breakpoint
-- Tenants made before the station registry existed accepted every identity: an upgrade must not lock their stations out.
UPDATE `tenants` SET `allow_unknown_stations` = true;
